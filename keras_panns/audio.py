"""Reading and checking audio for PANNs models: the one audio reader of keras_panns.

Every command and API that reads a file goes through `AudioFile` (tagging,
long audio and SED, embeddings, fine-tuning, export calibration, packing),
so they all read the same formats and report a bad file the same way, with
its path in the message.

Formats libsndfile reads (wav, flac, ogg, ...) are read by position, one
window at a time; others (mp3, m4a, ...) are decoded once with
librosa/audioread and served from memory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Union

import numpy as np

from keras_panns.errors import AudioError, MissingAudioError

#: What the tagging functions accept as audio: a path, a waveform `(samples,)`, a batch `(clips, samples)`,
#: or a sequence of paths and waveforms.
AudioInput = Union[str, os.PathLike, np.ndarray, Sequence[Union[str, os.PathLike, np.ndarray]]]

#: File name endings treated as audio when a directory is given.
AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".m4a",
    ".mp4",
    ".aac",
    ".aif",
    ".aiff",
    ".au",
    ".caf",
    ".w64",
    ".wma",
    ".webm",
    ".mka",
)


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resamples a mono waveform with soxr's high-quality filter (librosa's default).

    Args:
        waveform: float32 array `(samples,)`.
        orig_sr: int. Its rate.
        target_sr: int. The rate wanted; equal rates return `waveform` itself.

    Returns:
        float32 array `(samples * target_sr / orig_sr,)`.

    Example:
    ```python
    resample(np.zeros(44100, "float32"), 44100, 32000).shape  # (32000,)
    ```
    """
    if int(orig_sr) == int(target_sr):
        return waveform
    import librosa

    return librosa.resample(waveform, orig_sr=int(orig_sr), target_sr=int(target_sr), res_type="soxr_hq").astype(
        np.float32
    )


def check_length(
    num_samples: int | None, min_samples: int, sample_rate: int, model_name: str, source: str | None = None
) -> None:
    """Raises `AudioError` if `num_samples` is shorter than a model's shortest input.

    The check of `PANNsModel.check_input_length`, here so that code without
    Keras (the archive's decoding tasks) raises the same error.

    Args:
        num_samples: int or None (None: not known, nothing checked).
        min_samples: int. The model's shortest input and rate.
        sample_rate: int. The model's shortest input and rate.
        model_name: str. Named in the error.
        source: str or None. The file (or array name) to name in the error.

    Raises:
        AudioError: too short.

    Example:
    ```python
    check_length(8000, 9920, 32000, "Cnn14", "blip.wav")  # AudioError: blip.wav: Cnn14 needs ...
    ```
    """
    if num_samples is not None and int(num_samples) < min_samples:
        prefix = f"{source}: " if source else ""
        raise AudioError(
            f"{prefix}{model_name} needs at least {min_samples} samples "
            f"({min_samples / sample_rate:.3f} s at {sample_rate} Hz) to pool its "
            f"input; got {int(num_samples)}. Pad the clip or use a longer one."
        )


def check_waveform(waveform: np.ndarray | Sequence[float], name: str = "waveform") -> np.ndarray:
    """Validates a mono float waveform: 1-D, non-empty, finite.

    Args:
        waveform: array-like `(samples,)` of floats in [-1, 1].
        name: str. The file or array named in errors.

    Returns:
        The waveform as float32.

    Raises:
        AudioError: not 1-D, empty, integer samples, or NaN / infinite samples (the message counts them).

    Example:
    ```python
    check_waveform([0.0, float("nan")], "clip.wav")  # AudioError: clip.wav: 1 samples are NaN or infinite
    ```
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise AudioError(f"{name}: expected a mono waveform of shape (samples,), got shape {waveform.shape}")
    if waveform.size == 0:
        raise AudioError(f"{name}: the audio is empty")
    if np.issubdtype(waveform.dtype, np.integer):
        raise AudioError(f"{name}: integer samples ({waveform.dtype}); pass floats in [-1, 1] (e.g. int16 / 32768)")
    waveform = waveform.astype(np.float32, copy=False)
    if not np.all(np.isfinite(waveform)):
        bad = int(np.size(waveform) - np.count_nonzero(np.isfinite(waveform)))
        raise AudioError(f"{name}: {bad} samples are NaN or infinite")
    return waveform


class AudioFile:
    """An audio file opened for reading, whole or by position, as mono float32.

    Args:
        path: str or path-like.

    Attributes:
        path: str.
        sample_rate: int. The file's own rate.
        frames: int. Length in samples at that rate.
        duration: float. Seconds.

    Raises:
        AudioError: the path is missing or a directory, or the file is
            unreadable or empty (the message names the path).

    Example:
    ```python
    f = keras_panns.audio.AudioFile("street.flac")
    f.duration                                      # 1312.5
    window = f.read_window(0, 320000, sample_rate=32000)   # the first 10 s at 32 kHz
    ```
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise AudioError(f"{self.path}: is a directory, not an audio file")
        if not os.path.isfile(self.path):
            raise MissingAudioError(f"{self.path}: no such file")
        self._decoded = None
        try:
            import soundfile

            info = soundfile.info(self.path)
            self.sample_rate, self.frames = int(info.samplerate), int(info.frames)
        except Exception:  # not a format libsndfile knows (or a broken file): let librosa/audioread try
            self._decoded, self.sample_rate = self._decode_all()
            self.frames = len(self._decoded)
        if self.frames == 0:
            raise AudioError(f"{self.path}: the audio is empty")

    @property
    def duration(self):
        return self.frames / self.sample_rate

    @property
    def seekable(self):
        """True when windows are read by position (libsndfile's formats), False when decoded whole into memory."""
        return self._decoded is None

    def _decode_all(self):
        import librosa

        try:
            with warnings.catch_warnings():
                # librosa warns before falling back to audioread; a failure is reported as AudioError.
                warnings.simplefilter("ignore")
                data, rate = librosa.load(self.path, sr=None, mono=True)
        except Exception as exc:  # every decoder raises its own types; report them all the same way
            raise AudioError(f"{self.path}: cannot read audio ({type(exc).__name__}: {exc})") from exc
        return data.astype(np.float32), int(rate)

    def read(self, start=0, frames=None):
        """`frames` samples (default: to the end) from `start`, at the file's rate, channels averaged.

        Args:
            start: int. First sample, at the file's rate.
            frames: int or None. How many; None: to the end.

        Returns:
            float32 array.

        Raises:
            AudioError: the bytes cannot be decoded, or hold NaN / infinite samples.

        Example:
        ```python
        first_second = AudioFile("street.flac").read(0, 44100)  # at the file's 44.1 kHz
        ```
        """
        stop = self.frames if frames is None else min(self.frames, start + frames)
        if self._decoded is not None:
            data = self._decoded[start:stop]
        else:
            import soundfile

            try:
                data, _ = soundfile.read(self.path, start=start, stop=stop, dtype="float32", always_2d=True)
            except Exception as exc:  # libsndfile's errors vary by format
                raise AudioError(f"{self.path}: cannot read audio ({type(exc).__name__}: {exc})") from exc
            data = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        if data.size == 0:
            raise AudioError(f"{self.path}: the audio is empty")
        return check_waveform(data, self.path)

    def num_samples(self, sample_rate):
        """Length in samples at `sample_rate`.

        Args:
            sample_rate: int.

        Returns:
            int.

        Example:
        ```python
        AudioFile("street.flac").num_samples(32000)  # 42000000 for 1312.5 s
        ```
        """
        return int(self.frames * sample_rate // self.sample_rate)

    def read_window(self, start, length, sample_rate):
        """`length` samples at `sample_rate` from sample `start` (of that rate), zero-padded past the end.

        Only the window (at the file's rate) is read and resampled, so a long
        recording is never held in memory.

        Args:
            start: int. First sample, at `sample_rate`.
            length: int. Samples wanted, at `sample_rate`.
            sample_rate: int. The model's rate.

        Returns:
            float32 array `(length,)`.

        Raises:
            AudioError: the window cannot be decoded.

        Example:
        ```python
        second_window = AudioFile("street.flac").read_window(320000, 320000, 32000)  # 10 s to 20 s
        ```
        """
        ratio = self.sample_rate / sample_rate
        window = resample(self.read(int(start * ratio), int(np.ceil(length * ratio))), self.sample_rate, sample_rate)
        if len(window) < length:
            window = np.pad(window, (0, length - len(window)))
        return window[:length]


def load_audio(path: str | os.PathLike, sample_rate: int = 32000) -> np.ndarray:
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
    audio = AudioFile(path)
    return resample(audio.read(), audio.sample_rate, sample_rate)


def expand_audio_paths(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[str]:
    """File arguments with each directory replaced by the audio files inside it (sorted).

    Args:
        paths: iterable of file or directory paths.
        recursive: bool. Also look in subdirectories.

    Returns:
        list of str. Files stay as given (a missing one is reported when read).

    Raises:
        AudioError: a directory holds no audio file (with `recursive`, none below it).

    Example:
    ```python
    expand_audio_paths(["clips/", "extra.wav"])  # ['clips/a.wav', 'clips/b.flac', 'extra.wav']
    ```
    """
    files = []
    for path in map(os.fspath, paths):
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
            found += [
                os.path.join(root, n)
                for n in sorted(names)
                if not n.startswith(".") and n.lower().endswith(AUDIO_EXTENSIONS)
            ]
        if not found:
            where = "below" if recursive else "in"
            hint = "" if recursive else " (--recursive looks in subdirectories)"
            raise AudioError(f"{path}: no audio files {where} this directory{hint}")
        files += found
    return files
