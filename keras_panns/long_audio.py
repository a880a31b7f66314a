"""Long recordings in windows: tagging timelines and stitched SED output.

PANNs were trained on 10-s clips. Longer audio is cut into overlapping
windows that are read from the file one batch at a time (memory stays bounded
by the batch, whatever the file's length), and the window results are
combined: per-window clip scores plus their aggregate for tagging, and
framewise scores averaged where windows overlap for detection.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Union

import numpy as np

from keras_panns.audio import AudioFile, check_waveform, resample
from keras_panns.events import EventDetector
from keras_panns.inference import top_k_labels
from keras_panns.plotting import SEDOverview

if TYPE_CHECKING:
    from keras_panns.decisions import OperatingPoints
    from keras_panns.models import PANNsModel

#: A long recording: a file path, an open `audio.AudioFile`, or a mono waveform.
LongSource = Union[str, os.PathLike, AudioFile, np.ndarray]


def window_starts(num_samples: int, window: int, hop: int, align: int = 1) -> list[int]:
    """Start samples of windows of `window` samples every `hop` samples covering `num_samples`.

    The last window is moved back to end with the audio (rounded down to a
    multiple of `align`, so SED frames stay on the global frame grid); audio
    shorter than one window gives a single window over all of it.

    Args:
        num_samples: int. Length of the audio.
        window: int. Window length in samples.
        hop: int. Samples between window starts.
        align: int. The last start is a multiple of this (the hop size, for SED).

    Returns:
        A list of int.

    Raises:
        ValueError: `window` or `hop` is not positive.

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
        self.file = None
        if isinstance(source, (str, os.PathLike, AudioFile)):
            self.file = source if isinstance(source, AudioFile) else AudioFile(source)
            self.num_samples = self.file.num_samples(sample_rate)
        else:
            waveform = check_waveform(source)
            if source_rate is not None:
                waveform = resample(waveform, source_rate, sample_rate)
            self.waveform = waveform
            self.num_samples = len(waveform)

    @property
    def name(self):
        return self.file.path if self.file is not None else None

    def read(self, start, length):
        if self.file is None:
            return self.waveform[start : start + length]
        return self.file.read_window(start, length, self.sample_rate)


def plan_windows(model, source, window_seconds, hop_seconds, sample_rate=None, align=1):
    """The windows every long-audio function cuts `source` into: `(source, starts, length)`.

    `tag_long`, `embed_long`, `iter_framewise` and the archive index
    (`keras_panns.archive`) all plan with it, so their windows are the same.

    Args:
        model: the model the windows are for (its rate and shortest input).
        source: a file path, an `audio.AudioFile` or a mono waveform.
        window_seconds: as `tag_long`.
        hop_seconds: as `tag_long`.
        sample_rate: as `tag_long`.
        align: int. Window starts are multiples of it (SED: the model's hop size).

    Returns:
        `(source, starts, length)`: an object whose `read(start, length)`
        gives a window at the model's rate, the window start samples, and
        the window length (shorter than `window_seconds` for short audio).

    Raises:
        AudioError: the audio is shorter than the model's shortest input.

    Example:
    ```python
    source, starts, length = plan_windows(model, "day.flac", 10.0, 5.0)
    first = source.read(starts[0], length)
    ```
    """
    src = _Source(source, model.sample_rate, sample_rate)
    window = int(round(window_seconds * model.sample_rate))
    hop = int(round(hop_seconds * model.sample_rate)) // align * align
    if hop <= 0:
        raise ValueError(f"hop_seconds={hop_seconds} is shorter than one frame")
    length = min(window, src.num_samples)
    model.check_input_length(length, src.name)
    return src, window_starts(src.num_samples, window, hop, align), length


def _batches(
    model,
    source,
    window_seconds,
    hop_seconds,
    batch_size,
    sample_rate,
    align=1,
    on_window=None,
    runtime="keras",
    precision="auto",
):
    from keras_panns.runtimes import get_runner

    src, starts, length = plan_windows(model, source, window_seconds, hop_seconds, sample_rate, align)
    run = get_runner(model, runtime, precision)
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        batch = np.stack([src.read(s, length) for s in chunk])
        if on_window is not None:
            for start, waveform in zip(chunk, batch):
                on_window(start, waveform, src.num_samples)
        next_start = starts[i + batch_size] if i + batch_size < len(starts) else None
        yield chunk, run(batch), src.num_samples, next_start


@dataclasses.dataclass
class LongTagging:
    """Tagging of a long recording.

    Attributes:
        window_starts: float array `(windows,)`, window start times in seconds.
        window_seconds: float. Window length.
        window_scores: float32 array `(windows, classes)`: each window's clip scores.
        clip_scores: float32 array `(classes,)`: their aggregate.
        labels: list of class names.

    Example:
    ```python
    result = keras_panns.tag_long(model, "concert.flac")
    result.top_k(3)                 # [('Music', 0.93), ('Musical instrument', 0.61), ...]
    result.window_scores.shape      # (windows, 527)
    ```
    """

    window_starts: np.ndarray
    window_seconds: float
    window_scores: np.ndarray
    clip_scores: np.ndarray
    labels: list

    def top_k(self, k=5):
        """The `k` best `(label, score)` pairs of the whole recording's aggregate scores.

        Args:
            k: int.

        Returns:
            A list of `(str, float)`, best first.

        Example:
        ```python
        keras_panns.tag_long(model, "concert.flac").top_k(1)  # [('Music', 0.93)]
        ```
        """
        return top_k_labels(self.clip_scores, self.labels, k)


def tag_long(
    model: PANNsModel,
    source: LongSource,
    *,
    window_seconds: float = 10.0,
    hop_seconds: float = 5.0,
    batch_size: int = 4,
    aggregate: str = "max",
    sample_rate: int | None = None,
    runtime: str | Callable = "keras",
    precision: str = "auto",
) -> LongTagging:
    """Tags a long recording window by window.

    Args:
        model: a tagging model (any with `clipwise_output`).
        source: a file path or `audio.AudioFile` (read window by window), or a mono waveform.
        window_seconds: float. Window length and step.
        hop_seconds: float. Window length and step.
        batch_size: int. Windows per forward pass (bounds memory).
        runtime: where the forward pass runs, as `keras_panns.tag` (every function here takes them).
        precision: where the forward pass runs, as `keras_panns.tag` (every function here takes them).
        aggregate: str. `"max"` (anything that happened anywhere) or `"mean"`.
        sample_rate: int or None. Rate of an array `source` (default: the model's).

    Returns:
        A `LongTagging` with the per-window timeline and the aggregate.

    Raises:
        ValueError: `aggregate` is not `"max"` or `"mean"`.
        AudioError: the source cannot be read or is shorter than the model accepts.

    Example:
    ```python
    result = tag_long(model, "podcast.flac", window_seconds=10, hop_seconds=5)
    result.top_k(5), result.window_scores.shape
    ```
    """
    if aggregate not in ("max", "mean"):
        raise ValueError(f"aggregate must be 'max' or 'mean', got {aggregate!r}")
    starts, scores = _window_outputs(
        model, source, "clipwise_output", window_seconds, hop_seconds, batch_size, sample_rate, runtime, precision
    )
    clip = scores.max(axis=0) if aggregate == "max" else scores.mean(axis=0)
    return LongTagging(starts, window_seconds, scores, clip, model.labels)


def _window_outputs(model, source, key, window_seconds, hop_seconds, batch_size, sample_rate, runtime, precision):
    if key not in model.output:
        raise ValueError(f"{model.name} has no {key} output (it has {', '.join(model.output)})")
    starts, rows = [], []
    for chunk, outputs, _, _ in _batches(
        model, source, window_seconds, hop_seconds, batch_size, sample_rate, runtime=runtime, precision=precision
    ):
        starts.extend(chunk)
        rows.append(np.asarray(outputs[key], dtype=np.float32))
    return np.asarray(starts, np.float64) / model.sample_rate, np.concatenate(rows)


def embed_long(
    model: PANNsModel,
    source: LongSource,
    *,
    window_seconds: float = 10.0,
    hop_seconds: float = 10.0,
    batch_size: int = 4,
    sample_rate: int | None = None,
    runtime: str | Callable = "keras",
    precision: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of a recording, one per window.

    A recording no longer than one window is embedded in a single pass, which
    is exactly the reference's clip embedding; longer ones are cut into
    windows read from the file one batch at a time.

    Args:
        model: a tagging model with an `embedding` output (e.g. `Cnn14`).
        source: a file path, an `audio.AudioFile` or a mono waveform.
        window_seconds: as `tag_long`.
        hop_seconds: as `tag_long`.
        batch_size: as `tag_long`.
        sample_rate: as `tag_long`.

    Returns:
        `(starts, embeddings)`: window start times in seconds `(windows,)` and
        float32 embeddings `(windows, embedding_size)`. Their mean is a
        recording-level embedding.

    Example:
    ```python
    starts, vectors = embed_long(keras_panns.Cnn14.from_pretrained(), "lecture.wav")
    ```
    """
    return _window_outputs(
        model, source, "embedding", window_seconds, hop_seconds, batch_size, sample_rate, runtime, precision
    )


def iter_framewise(
    model: PANNsModel,
    source: LongSource,
    *,
    window_seconds: float = 10.0,
    hop_seconds: float = 5.0,
    batch_size: int = 4,
    sample_rate: int | None = None,
    on_window: Callable[[int, np.ndarray, int], None] | None = None,
    runtime: str | Callable = "keras",
    precision: str = "auto",
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields a long recording's stitched framewise scores in order, as `(first_frame, chunk)`.

    Frames covered by several windows get the mean of their scores. A chunk
    is yielded as soon as no later window can touch it, so memory is bounded
    by one batch of windows whatever the recording's length.

    Args:
        model: a SED model (with `framewise_output`), e.g. `Cnn14_DecisionLevelMax`.
        source: a file path or `audio.AudioFile` (read window by window), or a mono waveform.
        window_seconds: as `tag_long`.
        hop_seconds: as `tag_long`.
        batch_size: as `tag_long`.
        sample_rate: as `tag_long`.
        on_window: optional callable `(start_sample, waveform, total_samples)`
            called for each window before it is scored (e.g. to draw it).

    Yields:
        `(first_frame, chunk)`, chunk a float32 array `(frames, classes)`; the
        chunks together hold `1 + samples // hop_size` frames at
        `sample_rate / hop_size` frames per second.

    Raises:
        ValueError: the model has no `framewise_output` (not a SED model).
        AudioError: the source cannot be read or is shorter than the model accepts.

    Example:
    ```python
    detector = keras_panns.EventDetector(527, labels=sed_model.labels)
    for _, chunk in iter_framewise(sed_model, "day.flac"):
        detector.update(chunk)
    events = detector.finish()
    ```
    """
    if "framewise_output" not in model.output:
        raise ValueError(f"{model.name} has no framewise_output; use a SED model such as Cnn14_DecisionLevelMax")
    hop_size = model.config["hop_size"]
    stitcher = FrameStitcher(hop_size)
    for chunk, outputs, num_samples, next_start in _batches(
        model, source, window_seconds, hop_seconds, batch_size, sample_rate, hop_size, on_window, runtime, precision
    ):
        total = 1 + num_samples // hop_size
        for start, frames in zip(chunk, np.asarray(outputs["framewise_output"], dtype=np.float32)):
            stitcher.add(start, frames, total)
        yield stitcher.finish(total) if next_start is None else stitcher.release(next_start // hop_size)


class FrameStitcher:
    """Averages overlapping windows' framewise scores on the global frame grid; hands out frames once final.

    `iter_framewise` (offline) and `streaming.Stream` (live) both stitch with
    it, so their frames are the same numbers.

    Args:
        hop_size: int. Samples per frame.

    Example:
    ```python
    stitcher = FrameStitcher(hop_size=320)
    stitcher.add(0, first_window_frames)          # (1001, 527) from samples 0..320000
    stitcher.add(160000, second_window_frames)    # overlapping by half
    first, frames = stitcher.release(500)         # frames 0..499 are final now
    ```
    """

    def __init__(self, hop_size):
        self.hop_size = int(hop_size)
        self.base = 0  # global index of the first frame not yet handed out
        self._sums = self._counts = self._last = None

    def add(self, start, frames, total=None):
        """Adds one window's frames `(frames, classes)`; the window starts at sample `start` (on the frame grid).

        Args:
            start: int. The window's first sample, a multiple of `hop_size`.
            frames: float32 array `(frames, classes)`.
            total: int or None. Frames of the whole recording, when known: clips a window that runs past the end.

        Raises:
            ValueError: the window reaches back before frames already released.

        Example:
        ```python
        stitcher.add(160000, model.predict(window[None])["framewise_output"][0])
        ```
        """
        if self._sums is None:
            self._sums = np.zeros((0, frames.shape[1]), np.float32)
            self._counts = np.zeros((0, 1), np.float32)
        first = start // self.hop_size - self.base
        if first < 0:
            raise ValueError("a window reaches back before frames already handed out")
        last = first + len(frames) if total is None else min(first + len(frames), total - self.base)
        if last > len(self._sums):
            grow = last - len(self._sums)
            self._sums = np.concatenate([self._sums, np.zeros((grow, self._sums.shape[1]), np.float32)])
            self._counts = np.concatenate([self._counts, np.zeros((grow, 1), np.float32)])
        self._sums[first:last] += frames[: last - first]
        self._counts[first:last] += 1

    def release(self, upto):
        """`(first_frame, frames)`: the mean scores of every frame before global frame `upto`, now final.

        Args:
            upto: int. A global frame index; no later window will reach before it.

        Returns:
            `(int, float32 array (frames, classes))`.

        Example:
        ```python
        first, frames = stitcher.release(next_window_start // 320)
        ```
        """
        first = self.base
        if self._sums is None:
            return first, np.zeros((0, 0), np.float32)
        done = max(0, min(upto - self.base, len(self._sums)))
        ready = self._sums[:done] / np.maximum(self._counts[:done], 1)
        self._sums, self._counts, self.base = self._sums[done:], self._counts[done:], self.base + done
        if len(ready):
            self._last = ready[-1:]
        return first, ready

    def finish(self, total):
        """Hands out every remaining frame, repeating the last one up to `total` frames as the reference pads.

        Args:
            total: int. Frames of the whole recording (`1 + samples // hop_size`).

        Returns:
            `(int, float32 array (frames, classes))`.

        Example:
        ```python
        first, frames = stitcher.finish(1 + num_samples // 320)
        ```
        """
        first, ready = self.release(self.base + (len(self._sums) if self._sums is not None else 0))
        missing = total - (first + len(ready))
        if missing > 0 and self._last is not None:
            # The end-aligned last window may stop a frame short: repeat its last frame.
            ready = np.concatenate([ready, np.repeat(self._last, missing, axis=0)])
            self.base += missing
        return first, ready


def sed_long(
    model: PANNsModel,
    source: LongSource,
    *,
    window_seconds: float = 10.0,
    hop_seconds: float = 5.0,
    batch_size: int = 4,
    sample_rate: int | None = None,
    out: str | os.PathLike | None = None,
    runtime: str | Callable = "keras",
    precision: str = "auto",
) -> np.ndarray:
    """Framewise scores of a long recording, stitched from overlapping windows.

    Frames covered by several windows get the mean of their scores. In memory
    the result holds `frames x classes` float32 values (about 760 MB per hour
    for 527 classes); pass `out` to write it to a `.npy` file instead (a
    memory map, so RAM stays bounded), or use `iter_framewise` to stream it.

    Args:
        model: a SED model (with `framewise_output`), e.g. `Cnn14_DecisionLevelMax`.
        source: a file path, an `audio.AudioFile` or a mono waveform.
        window_seconds: as `tag_long`.
        hop_seconds: as `tag_long`.
        batch_size: as `tag_long`.
        sample_rate: as `tag_long`.
        out: str or None. A `.npy` path to write the scores to.

    Returns:
        float32 array `(1 + samples // hop_size, classes)` at 100 frames/s (a
        read-only memory map of `out` when given).

    Example:
    ```python
    framewise = sed_long(sed_model, "street.wav")
    events = keras_panns.detect_events(framewise, labels=sed_model.labels)
    ```
    """
    chunks, result, samples = [], None, []
    for first, chunk in iter_framewise(
        model,
        source,
        window_seconds=window_seconds,
        hop_seconds=hop_seconds,
        batch_size=batch_size,
        sample_rate=sample_rate,
        on_window=lambda start, waveform, total: samples.append(total),
        runtime=runtime,
        precision=precision,
    ):
        if out is None:
            chunks.append(chunk)
            continue
        if result is None:
            total = 1 + samples[0] // model.config["hop_size"]
            tmp = f"{os.fspath(out)}.partial.npy"
            result = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, chunk.shape[1]))
        result[first : first + len(chunk)] = chunk
    if out is None:
        return np.concatenate(chunks)
    result.flush()
    del result
    os.replace(tmp, out)
    return np.load(out, mmap_mode="r")


@dataclasses.dataclass
class DetectionResult:
    """Sound events of a recording, with the pooled picture data when asked for.

    Attributes:
        events: list of `SoundEvent`, sorted by onset.
        duration: float. Seconds of audio analysed.
        overview: `plotting.SEDOverview` or None.

    Example:
    ```python
    result = keras_panns.detect_events_long(sed, "street.wav")
    [(e.label, e.onset, e.offset) for e in result.events][:2]
    ```
    """

    events: list
    duration: float
    overview: object = None


def detect_events_long(
    model: PANNsModel,
    source: LongSource,
    *,
    window_seconds: float = 10.0,
    hop_seconds: float = 5.0,
    batch_size: int = 4,
    sample_rate: int | None = None,
    high: float = 0.5,
    low: float = 0.2,
    median_window: int = 1,
    min_duration: float = 0.0,
    overview: bool = False,
    max_columns: int = 2000,
    runtime: str | Callable = "keras",
    precision: str = "auto",
    operating_points: OperatingPoints | None = None,
) -> DetectionResult:
    """Detects sound events in a recording of any length with bounded memory.

    Streams `iter_framewise` into an `EventDetector`; with `overview=True` it
    also pools the log-mel spectrogram and the scores for `plotting.plot_sed`.

    Args:
        model: a SED model, e.g. `Cnn14_DecisionLevelMax.from_pretrained()`.
        source: a file path, an `audio.AudioFile` or a mono waveform.
        window_seconds: as `tag_long`.
        hop_seconds: as `tag_long`.
        batch_size: as `tag_long`.
        sample_rate: as `tag_long`.
        high: as `detect_events`.
        low: as `detect_events`.
        median_window: as `detect_events`.
        min_duration: as `detect_events`.
        overview: bool. Collect a `SEDOverview` for plotting.
        max_columns: int. Time resolution of the overview.
        runtime: as `keras_panns.tag`.
        precision: as `keras_panns.tag`.
        operating_points: `keras_panns.decisions.OperatingPoints` or None. Classes with an event point are
            detected at its high and low (the others at `high` and `low`); refused for another model.

    Returns:
        A `DetectionResult`.

    Example:
    ```python
    result = detect_events_long(sed_model, "street.wav", overview=True)
    keras_panns.plotting.plot_sed(result.overview, sed_model.labels, "street.png")
    ```
    """
    from keras_panns.runtimes.fingerprint import event_thresholds_for

    high, low = event_thresholds_for(model, operating_points, high, low, getattr(runtime, "precision", precision))
    hop_size = model.config["hop_size"]
    frame_rate = model.sample_rate / hop_size
    detector = EventDetector(
        model.config["num_classes"],
        frame_rate=frame_rate,
        labels=model.labels,
        high=high,
        low=low,
        median_window=median_window,
        min_duration=min_duration,
    )
    state = {"overview": None, "samples": 0}
    from keras_panns.layers import log_mel_layers  # here: planning and reading windows need no Keras (archive tasks)

    front_ends = log_mel_layers(model) if overview else []
    front_end = front_ends[0] if front_ends else None

    def on_window(start, waveform, total_samples):
        state["samples"] = total_samples
        if overview and state["overview"] is None:
            state["overview"] = SEDOverview(1 + total_samples // hop_size, frame_rate, max_columns)
        if front_end is not None:
            log_mel = np.asarray(front_end(waveform[None]))[0]
            state["overview"].add_log_mel(start // hop_size, log_mel)

    for first, chunk in iter_framewise(
        model,
        source,
        window_seconds=window_seconds,
        hop_seconds=hop_seconds,
        batch_size=batch_size,
        sample_rate=sample_rate,
        on_window=on_window,
        runtime=runtime,
        precision=precision,
    ):
        detector.update(chunk)
        if overview:
            state["overview"].add_scores(first, chunk)
    return DetectionResult(detector.finish(), state["samples"] / model.sample_rate, state["overview"])
