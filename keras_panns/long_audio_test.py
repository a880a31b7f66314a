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
