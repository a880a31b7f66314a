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
    assert abs(np.sqrt(np.mean(half**2)) / np.sqrt(np.mean(native**2)) - 1) < 0.05


def test_stereo_is_mixed_to_mono(tmp_path):
    stereo = np.stack([np.full(4000, 0.5), np.full(4000, -0.1)], axis=1).astype(np.float32)
    soundfile.write(tmp_path / "s.flac", stereo, 8000)
    np.testing.assert_allclose(load_audio(tmp_path / "s.flac", 8000), 0.2, atol=1e-3)


@pytest.mark.parametrize(
    "value,message",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.array([0.1, np.nan], np.float32), "NaN"),
        (np.zeros((2, 2), np.float32), "mono"),
        (np.zeros(4, np.int16), "integer"),
    ],
)
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


def test_one_reader_whole_or_by_window(shared_data, tmp_path):
    from keras_panns.audio import AudioFile

    path = shared_data / "examples" / "R9_ZSCveAHg_7s.wav"
    audio = AudioFile(path)
    assert audio.sample_rate == 32000 and audio.frames == 224000 and audio.duration == 7.0
    whole = audio.read()
    np.testing.assert_array_equal(audio.read_window(32000, 64000, 32000), whole[32000:96000])
    tail = audio.read_window(200000, 32000, 32000)  # zero-padded past the end
    np.testing.assert_array_equal(tail[:24000], whole[200000:])
    assert not np.any(tail[24000:])


def test_formats_libsndfile_cannot_read_are_decoded_once(shared_data, monkeypatch):
    """mp3/m4a go through librosa; long audio and SED then read the same samples as `tag` does."""
    import soundfile

    from keras_panns.audio import AudioFile

    path = str(shared_data / "examples" / "R9_ZSCveAHg_7s.wav")
    direct = AudioFile(path)
    model = keras_panns.Cnn6(embedding_size=8)
    expected = keras_panns.embed_long(model, path, window_seconds=3, hop_seconds=2)
    info = soundfile.info

    def not_for_this_file(name, *args, **kwargs):
        if str(name) == path:
            raise soundfile.LibsndfileError(1, "Format not recognised")
        return info(name, *args, **kwargs)

    monkeypatch.setattr(soundfile, "info", not_for_this_file)
    decoded = AudioFile(path)
    assert decoded._decoded is not None and decoded.frames == direct.frames
    np.testing.assert_allclose(
        decoded.read_window(16000, 48000, 16000), direct.read_window(16000, 48000, 16000), atol=1e-6
    )
    starts, vectors = keras_panns.embed_long(model, path, window_seconds=3, hop_seconds=2)
    np.testing.assert_array_equal(starts, expected[0])
    np.testing.assert_allclose(vectors, expected[1], rtol=1e-4, atol=1e-5)


def test_errors_name_the_file(tmp_path):
    from keras_panns.audio import AudioFile

    with pytest.raises(AudioError, match=f"{tmp_path}: is a directory"):
        AudioFile(tmp_path)
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(1000, np.float32), 32000)
    model = keras_panns.Cnn6(embedding_size=8)
    [result] = keras_panns.iter_tags(model, [short])
    assert result.error.startswith(f"{short}: cnn6 needs at least 4800 samples")
    with pytest.raises(AudioError, match=f"{short}: cnn6 needs at least"):
        keras_panns.tag_long(model, short)


def test_directories_expand_to_their_audio_files(tmp_path):
    from keras_panns.audio import expand_audio_paths

    (tmp_path / "sub").mkdir()
    for name in ("b.wav", "a.flac", "notes.txt", ".hidden.wav", "sub/c.wav"):
        (tmp_path / name).write_bytes(b"")
    assert expand_audio_paths([tmp_path]) == [str(tmp_path / "a.flac"), str(tmp_path / "b.wav")]
    assert expand_audio_paths([tmp_path, "x.mp3"], recursive=True)[-2:] == [str(tmp_path / "sub" / "c.wav"), "x.mp3"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioError, match="no audio files in this directory.*--recursive"):
        expand_audio_paths([tmp_path / "empty"])
