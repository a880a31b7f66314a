import numpy as np
import pytest
import soundfile

import keras_panns
from keras_panns.audio import check_waveform, load_audio
from keras_panns.errors import AudioError


def test_loads_real_recordings_at_the_model_rate(shared_data):
    path = shared_data / "examples" / "R9_ZSCveAHg_7s.wav"
    native = load_audio(path, 32000)
    assert native.dtype == np.float32 and native.shape == (224000,) and np.abs(native).max() <= 1
    half = load_audio(path, 16000)
    assert half.shape == (112000,)
    # Resampling keeps the level of a speech recording.
    assert abs(np.sqrt(np.mean(half ** 2)) / np.sqrt(np.mean(native ** 2)) - 1) < 0.05


def test_stereo_is_mixed_to_mono(tmp_path):
    stereo = np.stack([np.full(4000, 0.5), np.full(4000, -0.1)], axis=1).astype(np.float32)
    soundfile.write(tmp_path / "s.flac", stereo, 8000)
    np.testing.assert_allclose(load_audio(tmp_path / "s.flac", 8000), 0.2, atol=1e-3)


@pytest.mark.parametrize("value,message", [
    (np.zeros(0, np.float32), "empty"), (np.array([0.1, np.nan], np.float32), "NaN"),
    (np.zeros((2, 2), np.float32), "mono"), (np.zeros(4, np.int16), "integer"),
])
def test_bad_arrays(value, message):
    with pytest.raises(AudioError, match=message):
        check_waveform(value)


def test_tag_arrays_resamples_and_checks():
    model = keras_panns.Cnn6(embedding_size=8)
    x = np.random.RandomState(0).uniform(-0.3, 0.3, 16000).astype(np.float32)
    tags = keras_panns.tag(model, x, sample_rate=16000, top_k=4)
    assert len(tags) == 4 and all(isinstance(label, str) for label, _ in tags)
    assert [s for _, s in tags] == sorted((s for _, s in tags), reverse=True)
    batch = keras_panns.tag(model, np.stack([x, x[::-1]]), top_k=2)
    assert len(batch) == 2
    with pytest.raises(AudioError, match="NaN"):
        keras_panns.tag(model, np.full(16000, np.nan, np.float32))


def test_predict_waveforms_groups_lengths_without_padding():
    model = keras_panns.Cnn6(embedding_size=8)
    rs = np.random.RandomState(0)
    clips = [rs.uniform(-0.3, 0.3, n).astype(np.float32) for n in (9000, 12000, 9000)]
    outs = keras_panns.predict_waveforms(model, clips, batch_size=2)
    for clip, out in zip(clips, outs):
        alone = model.predict_on_batch(clip[None])["clipwise_output"][0]
        np.testing.assert_allclose(out["clipwise_output"], alone, atol=1e-5)
