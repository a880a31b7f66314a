import numpy as np
import pytest

from keras_panns.plotting import SEDOverview, plot_sed, top_classes


def test_pooling_keeps_short_events_and_averages_log_mel():
    overview = SEDOverview(total_frames=360_001, frame_rate=100.0, max_columns=1000)  # one hour
    scores = np.zeros((360_001, 3), np.float32)
    scores[123_456, 2] = 0.9  # a 10-ms event
    for first in range(0, 360_001, 50_000):  # streamed in chunks
        overview.add_scores(first, scores[first : first + 50_000])
    assert overview.scores.shape == (1000, 3)
    assert overview.scores[:, 2].max() == pytest.approx(0.9)
    assert np.argmax(overview.scores[:, 2]) == 123_456 * 1000 // 360_001
    log_mel = np.tile(np.arange(360_001, dtype=np.float32)[:, None], (1, 4))
    overview.add_log_mel(0, log_mel[:200_000])
    overview.add_log_mel(180_000, log_mel[180_000:])  # overlap counts once per add and averages
    assert overview.log_mel.shape == (1000, 4)
    assert np.all(np.diff(overview.log_mel[:, 0]) > 0)
    assert overview.log_mel[0, 0] == pytest.approx(180.0)  # mean of frames 0..360
    assert top_classes(overview.scores, 2) == [2, 0]


def test_short_clips_keep_every_frame_and_plot(tmp_path):
    overview = SEDOverview(total_frames=50, frame_rate=100.0)
    overview.add_scores(0, np.random.RandomState(0).rand(60, 4))  # extra frames are ignored
    assert overview.columns == 50 and overview.log_mel is None
    plot_sed(overview, list("abcd"), tmp_path / "x.png", top_k=2)  # scores only: one panel
    assert (tmp_path / "x.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="no scores"):
        plot_sed(SEDOverview(10, 100.0), ["a"], tmp_path / "y.png")
