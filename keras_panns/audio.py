"""Reading and checking audio for PANNs models."""

import os
import warnings

import numpy as np

from keras_panns.errors import AudioError


def _read(path):
    import soundfile

    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return data.mean(axis=1) if data.shape[1] > 1 else data[:, 0], rate
    except (RuntimeError, soundfile.LibsndfileError, TypeError):
        pass  # not a format libsndfile knows: let librosa/audioread try (mp3, m4a, ...)
    import librosa

    with warnings.catch_warnings():
        # librosa warns before falling back to audioread; a failure is reported as AudioError.
        warnings.simplefilter("ignore")
        data, rate = librosa.load(path, sr=None, mono=True)
    return data.astype(np.float32), rate


def resample(waveform, orig_sr, target_sr):
    """Resamples a mono waveform with soxr's high-quality filter (librosa's default)."""
    if int(orig_sr) == int(target_sr):
        return waveform
    import librosa

    return librosa.resample(waveform, orig_sr=int(orig_sr), target_sr=int(target_sr), res_type="soxr_hq").astype(
        np.float32)


def check_waveform(waveform, name="waveform"):
    """Validates a mono float waveform: 1-D, non-empty, finite. Returns it as float32."""
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise AudioError(f"{name}: expected a mono waveform of shape (samples,), got shape {waveform.shape}")
    if waveform.size == 0:
        raise AudioError(f"{name}: the audio is empty")
    if np.issubdtype(waveform.dtype, np.integer):
        raise AudioError(f"{name}: integer samples ({waveform.dtype}); pass floats in [-1, 1] "
                         "(e.g. int16 / 32768)")
    waveform = waveform.astype(np.float32, copy=False)
    if not np.all(np.isfinite(waveform)):
        bad = int(np.size(waveform) - np.count_nonzero(np.isfinite(waveform)))
        raise AudioError(f"{name}: {bad} samples are NaN or infinite")
    return waveform


def load_audio(path, sample_rate=32000):
    """Reads an audio file as a mono float32 waveform at `sample_rate`.

    Any format libsndfile reads (wav, flac, ogg, ...) is read directly; others
    (mp3, m4a, ...) go through librosa/audioread. Channels are averaged and
    the signal is resampled with soxr when the file's rate differs.

    Args:
        path: str or path-like.
        sample_rate: int. The rate to return, normally `model.sample_rate`.

    Returns:
        float32 array `(samples,)` in [-1, 1].

    Raises:
        AudioError: the file is missing, unreadable, empty, or contains NaN.

    Example:
    ```python
    waveform = keras_panns.load_audio("dog.wav", sample_rate=model.sample_rate)
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: no such file")
    try:
        waveform, rate = _read(path)
    except Exception as exc:  # every decoder raises its own types; report them all the same way
        raise AudioError(f"{path}: cannot read audio ({type(exc).__name__}: {exc})") from exc
    waveform = check_waveform(waveform, path)
    return resample(waveform, rate, sample_rate)
