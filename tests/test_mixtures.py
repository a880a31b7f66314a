"""tools/make_mixtures.py: ESC-10 sounds at known onsets in noise, and labels the index takes as they are."""

import numpy as np
import pytest
import soundfile

from keras_panns.archive.label_files import read_label_file
from keras_panns.labels import audioset_labels
from keras_panns.testing import SHARED, tool_module

ESC10 = SHARED / "data" / "esc10"


@pytest.fixture(scope="module")
def tool():
    return tool_module("make_mixtures")


def test_mixtures_hold_their_events_where_the_labels_say(tool, tmp_path):
    if not (ESC10 / "esc10.csv").exists():
        pytest.skip(f"ESC-10 not found in {ESC10}")
    assert set(tool.ESC10_TO_AUDIOSET.values()) <= set(audioset_labels())
    # Six 6-s mixtures of one event each at 25 dB over -50 dBFS noise, from fold 5.
    settings = dict(seconds=6.0, max_events=1, snr=(25.0, 25.0), noise_db=-50.0, folds=("5",), seed=1)
    labels = read_label_file(tool.write_mixtures(str(tmp_path), str(ESC10), 6, **settings))
    positives = labels[labels.label_type == "positive"]
    assert len(positives) == 6 and (labels.label_type == "negative").sum() == 6 * 9
    for row in positives.itertuples():
        audio, rate = soundfile.read(row.path)
        assert rate == tool.RATE and len(audio) == 6 * tool.RATE
        inside = audio[int(row.start * rate) : int(row.end * rate)]
        outside = np.concatenate([audio[: int(row.start * rate)], audio[int(row.end * rate) :]])
        # 25 dB over the noise inside the span, the noise alone outside it.
        assert 10 * np.log10(np.mean(inside**2) / np.mean(outside**2)) > 15
        assert np.sqrt(np.mean(outside**2)) == pytest.approx(10 ** (-50 / 20), rel=0.2)
    # The same seed writes the same mixtures.
    again = read_label_file(tool.write_mixtures(str(tmp_path / "again"), str(ESC10), 6, **settings))
    np.testing.assert_allclose(again.start.dropna(), labels.start.dropna())


def test_the_active_part_leaves_out_padding(tool):
    rate = 16000
    clip = np.zeros(rate * 2, np.float32)
    clip[rate // 2 : rate] = 0.5 * np.sin(np.arange(rate // 2) / 5)
    first, last = tool.active_part(clip, rate)
    assert abs(first - rate // 2) <= 0.05 * rate and abs(last - rate) <= 0.05 * rate
    assert tool.active_part(np.zeros(rate, np.float32), rate) is None
