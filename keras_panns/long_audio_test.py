import numpy as np
import pytest
import soundfile

import keras_panns
from keras_panns.errors import AudioError
from keras_panns.long_audio import sed_long, tag_long, window_starts


def test_window_starts_cover_everything():
    assert window_starts(25, 10, 5) == [0, 5, 10, 15]
    assert window_starts(27, 10, 5) == [0, 5, 10, 15, 17]
    assert window_starts(27, 10, 5, align=4) == [0, 5, 10, 15, 16]
    assert window_starts(8, 10, 5) == [0]


@pytest.fixture(scope="module")
def sed_model():
    return keras_panns.Cnn14_DecisionLevelMax(hop_size=80, window_size=256, sample_rate=8000, fmax=4000, seed=0)


def test_sed_long_equals_one_pass_where_windows_do_not_overlap(sed_model):
    # Back-to-back 4-s windows: inside a window, frames equal the model run on that window alone
    # (the boundary frame 400 belongs to both windows and is their mean).
    x = np.random.RandomState(0).uniform(-0.3, 0.3, 8000 * 12).astype(np.float32)
    stitched = sed_long(sed_model, x, window_seconds=4.0, hop_seconds=4.0)
    assert stitched.shape == (1 + len(x) // 80, 527)
    second = sed_model.predict_on_batch(x[None, 32000:64000])["framewise_output"][0]
    np.testing.assert_allclose(stitched[401:800], second[1:400], atol=1e-6)
    first = sed_model.predict_on_batch(x[None, :32000])["framewise_output"][0]
    np.testing.assert_allclose(stitched[400], (first[400] + second[0]) / 2, atol=1e-6)


def test_tag_long_from_a_file_reads_windows(tmp_path, sed_model):
    model = keras_panns.Cnn6(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, embedding_size=8)
    x = np.random.RandomState(1).uniform(-0.3, 0.3, 8000 * 9).astype(np.float32)
    path = tmp_path / "long.wav"
    soundfile.write(path, x, 8000, subtype="FLOAT")
    result = tag_long(model, str(path), window_seconds=4.0, hop_seconds=2.0, batch_size=2)
    np.testing.assert_allclose(result.window_starts, [0, 2, 4, 5])
    direct = model.predict_on_batch(np.stack([x[s : s + 32000] for s in (0, 16000, 32000, 40000)]))
    np.testing.assert_allclose(result.window_scores, direct["clipwise_output"], atol=1e-5)
    np.testing.assert_allclose(result.clip_scores, direct["clipwise_output"].max(axis=0), atol=1e-5)
    assert len(result.top_k(3)) == 3


def test_long_audio_errors(tmp_path):
    model = keras_panns.Cnn6(embedding_size=8)
    with pytest.raises(AudioError, match="at least"):
        tag_long(model, np.zeros(1000, np.float32))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    with pytest.raises(AudioError, match="cannot read"):
        tag_long(model, str(bad))


def test_framewise_streams_in_bounded_chunks_and_writes_npy(sed_model, tmp_path):
    from keras_panns.long_audio import iter_framewise

    x = np.random.RandomState(2).uniform(-0.3, 0.3, 8000 * 15 + 123).astype(np.float32)
    whole = sed_long(sed_model, x, window_seconds=4.0, hop_seconds=1.5, batch_size=8)
    pieces = list(iter_framewise(sed_model, x, window_seconds=4.0, hop_seconds=1.5, batch_size=1))
    assert len(pieces) > 5 and max(len(c) for _, c in pieces) <= 401  # one window's frames at most
    assert [first for first, _ in pieces] == list(np.cumsum([0] + [len(c) for _, c in pieces[:-1]]))
    np.testing.assert_allclose(np.concatenate([c for _, c in pieces]), whole, atol=1e-6)
    on_disk = sed_long(sed_model, x, window_seconds=4.0, hop_seconds=1.5, batch_size=2, out=tmp_path / "fw.npy")
    assert isinstance(on_disk, np.memmap) and on_disk.shape == whole.shape
    np.testing.assert_allclose(on_disk, whole, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw.npy"]


def test_framewise_needs_a_sed_model():
    with pytest.raises(ValueError, match="no framewise_output"):
        sed_long(keras_panns.Cnn6(embedding_size=8), np.zeros(64000, np.float32))


def test_operating_points_set_each_classes_event_high_and_low(sed_model):
    from keras_panns.decisions import OperatingPoints, OperatingPointsError
    from keras_panns.runtimes.fingerprint import model_fingerprint

    wave = (0.1 * np.random.default_rng(0).standard_normal(8000 * 6)).astype(np.float32)
    framewise = keras_panns.sed_long(sed_model, wave, window_seconds=2.0, hop_seconds=1.0)
    column = int(np.argmax(framewise.max(axis=0)))
    name, peak = sed_model.labels[column], float(framewise[:, column].max())
    point = {"threshold": 0.5, "events": {"high": peak - 1e-4, "low": peak - 2e-3}}
    points = OperatingPoints(model=model_fingerprint(sed_model), target="f1", classes={name: point})
    # Every other class at 1.0, which no sigmoid score reaches: the events are that class's, at its point.
    result = keras_panns.detect_events_long(
        sed_model, wave, window_seconds=2.0, hop_seconds=1.0, high=1.0, low=1.0, operating_points=points
    )
    high, low = points.event_thresholds(sed_model.labels, 1.0, 1.0)
    expected = keras_panns.detect_events(framewise, labels=sed_model.labels, high=high, low=low)
    # Two forward passes of the same windows: scores may differ in the last float32 bits (batching).
    assert [(e.label, e.onset, e.offset) for e in result.events] == [(e.label, e.onset, e.offset) for e in expected]
    np.testing.assert_allclose([e.score for e in result.events], [e.score for e in expected], atol=1e-5)
    assert result.events and {event.label for event in result.events} == {name}

    other = OperatingPoints(model={**points.model, "weights_sha256": "0" * 64}, target="f1", classes={name: point})
    with pytest.raises(OperatingPointsError, match="weights_sha256"):
        keras_panns.detect_events_long(sed_model, wave, operating_points=other)
    with pytest.raises(OperatingPointsError, match="weights_sha256"):
        keras_panns.Stream(sed_model, window_seconds=2.0, hop_seconds=1.0, operating_points=other)
    stream = keras_panns.Stream(sed_model, window_seconds=2.0, hop_seconds=1.0, operating_points=points)
    assert stream._detector.high[column] == pytest.approx(peak - 1e-4) and stream._detector.high[column - 1] == 0.5
