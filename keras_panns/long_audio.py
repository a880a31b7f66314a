"""Long recordings in windows: tagging timelines and stitched SED output.

PANNs were trained on 10-s clips. Longer audio is cut into overlapping
windows that are read from the file one batch at a time (memory stays bounded
by the batch, whatever the file's length), and the window results are
combined: per-window clip scores plus their aggregate for tagging, and
framewise scores averaged where windows overlap for detection.
"""

import dataclasses
import os

import numpy as np

from keras_panns.audio import check_waveform, resample
from keras_panns.errors import AudioError


def window_starts(num_samples, window, hop, align=1):
    """Start samples of windows of `window` samples every `hop` samples covering `num_samples`.

    The last window is moved back to end with the audio (rounded down to a
    multiple of `align`, so SED frames stay on the global frame grid); audio
    shorter than one window gives a single window over all of it.

    Example:
    ```python
    window_starts(25, 10, 5)  # [0, 5, 10, 15]
    ```
    """
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    last = (num_samples - window) // align * align
    if starts[-1] < last:
        starts.append(last)
    return starts


class _Source:
    """Windows of a waveform array or of an audio file, at the model's rate."""

    def __init__(self, source, sample_rate, source_rate=None):
        self.sample_rate = sample_rate
        self.path = None
        if isinstance(source, (str, os.PathLike)):
            import soundfile

            self.path = os.fspath(source)
            try:
                info = soundfile.info(self.path)
            except Exception as exc:  # libsndfile's errors vary by format
                raise AudioError(f"{self.path}: cannot read audio ({exc})") from exc
            self.file_rate = info.samplerate
            self.num_samples = int(info.frames * sample_rate // info.samplerate)
            if info.frames == 0:
                raise AudioError(f"{self.path}: the audio is empty")
        else:
            waveform = check_waveform(source)
            if source_rate is not None:
                waveform = resample(waveform, source_rate, sample_rate)
            self.waveform = waveform
            self.num_samples = len(waveform)

    def read(self, start, length):
        if self.path is None:
            return self.waveform[start : start + length]
        import soundfile

        # Read the window at the file's rate (plus a little context for the resampler).
        ratio = self.file_rate / self.sample_rate
        first = int(start * ratio)
        count = int(np.ceil(length * ratio))
        data, _ = soundfile.read(self.path, start=first, frames=count, dtype="float32", always_2d=True)
        window = check_waveform(data.mean(axis=1), self.path)
        window = resample(window, self.file_rate, self.sample_rate)
        if len(window) < length:
            window = np.pad(window, (0, length - len(window)))
        return window[:length]


def _batches(model, source, window_seconds, hop_seconds, batch_size, sample_rate, align=1):
    src = _Source(source, model.sample_rate, sample_rate)
    window = int(round(window_seconds * model.sample_rate))
    hop = int(round(hop_seconds * model.sample_rate)) // align * align
    if hop <= 0:
        raise ValueError(f"hop_seconds={hop_seconds} is shorter than one frame")
    starts = window_starts(src.num_samples, window, hop, align)
    length = min(window, src.num_samples)
    model.check_input_length(length)
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        batch = np.stack([src.read(s, length) for s in chunk])
        yield chunk, model.predict_on_batch(batch), src.num_samples


@dataclasses.dataclass
class LongTagging:
    """Tagging of a long recording.

    Attributes:
        window_starts: float array `(windows,)`, window start times in seconds.
        window_seconds: float. Window length.
        window_scores: float32 array `(windows, classes)`: each window's clip scores.
        clip_scores: float32 array `(classes,)`: their aggregate.
        labels: list of class names.
    """

    window_starts: np.ndarray
    window_seconds: float
    window_scores: np.ndarray
    clip_scores: np.ndarray
    labels: list

    def top_k(self, k=5):
        from keras_panns.inference import top_k_labels

        return top_k_labels(self.clip_scores, self.labels, k)


def tag_long(model, source, *, window_seconds=10.0, hop_seconds=5.0, batch_size=4, aggregate="max",
             sample_rate=None):
    """Tags a long recording window by window.

    Args:
        model: a tagging model (any with `clipwise_output`).
        source: a file path (read window by window) or a mono waveform.
        window_seconds, hop_seconds: float. Window length and step.
        batch_size: int. Windows per forward pass (bounds memory).
        aggregate: str. `"max"` (anything that happened anywhere) or `"mean"`.
        sample_rate: int or None. Rate of an array `source` (default: the model's).

    Returns:
        A `LongTagging` with the per-window timeline and the aggregate.

    Example:
    ```python
    result = tag_long(model, "podcast.flac", window_seconds=10, hop_seconds=5)
    result.top_k(5), result.window_scores.shape
    ```
    """
    if aggregate not in ("max", "mean"):
        raise ValueError(f"aggregate must be 'max' or 'mean', got {aggregate!r}")
    starts, rows = [], []
    for chunk, outputs, _ in _batches(model, source, window_seconds, hop_seconds, batch_size, sample_rate):
        starts.extend(chunk)
        rows.append(np.asarray(outputs["clipwise_output"], dtype=np.float32))
    scores = np.concatenate(rows)
    clip = scores.max(axis=0) if aggregate == "max" else scores.mean(axis=0)
    return LongTagging(np.asarray(starts, np.float64) / model.sample_rate, window_seconds, scores, clip,
                       model.labels)


def sed_long(model, source, *, window_seconds=10.0, hop_seconds=5.0, batch_size=4, sample_rate=None):
    """Framewise scores of a long recording, stitched from overlapping windows.

    Frames covered by several windows get the mean of their scores. The
    result holds `frames x classes` float32 values (about 760 MB per hour of
    audio for 527 classes); the audio itself is read window by window.

    Args:
        model: a SED model (with `framewise_output`), e.g. `Cnn14_DecisionLevelMax`.
        source: a file path or a mono waveform.
        window_seconds, hop_seconds, batch_size, sample_rate: as `tag_long`.

    Returns:
        float32 array `(1 + samples // hop_size, classes)` at 100 frames/s.

    Example:
    ```python
    framewise = sed_long(sed_model, "street.wav")
    events = keras_panns.detect_events(framewise, labels=sed_model.labels)
    ```
    """
    hop_size = model.config["hop_size"]
    total = sums = counts = None
    for chunk, outputs, num_samples in _batches(model, source, window_seconds, hop_seconds, batch_size,
                                                sample_rate, align=hop_size):
        framewise = np.asarray(outputs["framewise_output"], dtype=np.float32)
        if sums is None:
            total = 1 + num_samples // hop_size
            sums = np.zeros((total, framewise.shape[2]), np.float32)
            counts = np.zeros((total, 1), np.float32)
        for start, frames in zip(chunk, framewise):
            first = start // hop_size
            last = min(first + len(frames), total)
            sums[first:last] += frames[: last - first]
            counts[first:last] += 1
    stitched = sums / np.maximum(counts, 1)
    covered = np.flatnonzero(counts[:, 0])
    # The end-aligned last window may stop a frame short: repeat its last frame, as the reference pads.
    stitched[covered[-1] + 1 :] = stitched[covered[-1]]
    return stitched
