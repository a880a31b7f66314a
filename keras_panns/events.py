"""Framewise scores to sound events: onset/offset per class with hysteresis."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Sequence
from typing import TextIO

import numpy as np


@dataclasses.dataclass(frozen=True)
class SoundEvent:
    """One detected event.

    Attributes:
        label: str. Class name.
        index: int. Class index.
        onset: float. Start time in seconds.
        offset: float. End time in seconds.
        score: float. Highest (smoothed) frame score inside the event.

    Example:
    ```python
    event = SoundEvent(label="Dog", index=74, onset=1.2, offset=2.9, score=0.81)
    event.to_dict()  # {'label': 'Dog', 'index': 74, 'onset': 1.2, 'offset': 2.9, 'score': 0.81}
    ```
    """

    label: str
    index: int
    onset: float
    offset: float
    score: float

    def to_dict(self):
        """The event as a JSON-ready dict, times rounded to the millisecond and the score to 4 decimals.

        Returns:
            dict with `label`, `index`, `onset`, `offset`, `score`.

        Example:
        ```python
        json.dumps([event.to_dict() for event in events])
        ```
        """
        return {
            "label": self.label,
            "index": self.index,
            "onset": round(self.onset, 3),
            "offset": round(self.offset, 3),
            "score": round(self.score, 4),
        }


def median_smooth(framewise: np.ndarray, window: int) -> np.ndarray:
    """Median filter of width `window` frames along time, per class (edges repeat).

    Args:
        framewise: array `(frames, classes)`.
        window: int. Width in frames; 1 or less returns the scores unchanged.

    Returns:
        array `(frames, classes)`.

    Example:
    ```python
    median_smooth(np.array([[0.0], [1.0], [0.0]]), 3)  # [[0.], [0.], [0.]]: a one-frame spike is gone
    ```
    """
    if window <= 1:
        return np.asarray(framewise)
    from scipy.ndimage import median_filter

    return median_filter(np.asarray(framewise), size=(int(window), 1), mode="nearest")


def per_class_thresholds(high, low, num_classes):
    """`high` and `low` as float32 arrays `(num_classes,)`, from a number each or one per class.

    Args:
        high: float or sequence of `num_classes` floats.
        low: float or sequence of `num_classes` floats.
        num_classes: int.

    Returns:
        `(high, low)`, float32 arrays `(num_classes,)`.

    Raises:
        ValueError: a sequence of another length, or not `0 <= low <= high` (naming the first class that is not).

    Example:
    ```python
    high, low = per_class_thresholds(0.5, [0.2, 0.1, 0.3], 3)  # high: [0.5, 0.5, 0.5]
    ```
    """
    pair = []
    for name, value in (("high", high), ("low", low)):
        array = np.asarray(value, np.float32)
        if array.ndim not in (0, 1) or (array.ndim == 1 and len(array) != num_classes):
            raise ValueError(f"{name} must be one number or {num_classes} (one per class), got shape {array.shape}")
        pair.append(np.broadcast_to(array, (num_classes,)).copy())
    bad = np.flatnonzero((pair[1] < 0) | (pair[1] > pair[0]))
    if len(bad):
        if np.ndim(high) == 0 and np.ndim(low) == 0:
            raise ValueError(f"need 0 <= low <= high, got low={low}, high={high}")
        i = int(bad[0])
        raise ValueError(f"need 0 <= low <= high for every class, got low={pair[1][i]:g}, high={pair[0][i]:g} for {i}")
    return pair[0], pair[1]


class EventDetector:
    """Streaming version of `detect_events`: feed framewise scores chunk by chunk.

    Holds only `median_window` frames of context and one open run per class,
    so hours of framewise output can be turned into events without ever
    being in memory at once. Fed the same frames, it returns exactly what
    `detect_events` returns.

    Args:
        num_classes: int.
        frame_rate: as `detect_events`.
        labels: as `detect_events`.
        high: as `detect_events`.
        low: as `detect_events`.
        median_window: as `detect_events`.
        min_duration: as `detect_events`.
        start_time: as `detect_events`.

    Example:
    ```python
    detector = EventDetector(527, labels=model.labels)
    for first_frame, chunk in keras_panns.iter_framewise(model, "day.flac"):
        detector.update(chunk)
    events = detector.finish()
    ```
    """

    def __init__(
        self,
        num_classes,
        *,
        frame_rate=100.0,
        labels=None,
        high=0.5,
        low=0.2,
        median_window=1,
        min_duration=0.0,
        start_time=0.0,
    ):
        self.num_classes = int(num_classes)
        self.high, self.low = per_class_thresholds(high, low, self.num_classes)
        self.frame_rate, self.labels = float(frame_rate), labels
        self.min_duration, self.start_time = min_duration, start_time
        window = max(int(median_window), 1)
        # scipy's median_filter centres a width-w window at w // 2.
        self._left, self._right = window // 2, window - 1 - window // 2
        self._raw = None  # context frames for the median filter, then frames awaiting right context
        self._frame = 0  # global index of the next smoothed frame
        self._run_start = np.full(self.num_classes, -1, np.int64)
        self._run_peak = np.zeros(self.num_classes, np.float32)
        self.events = []

    def update(self, chunk):
        """Consumes framewise scores `(frames, classes)`; returns the events completed so far.

        Args:
            chunk: array `(frames, classes)`, the frames that follow the previous chunk.

        Returns:
            The list of every `SoundEvent` completed since the stream began.

        Raises:
            ValueError: the chunk is not `(frames, num_classes)`.

        Example:
        ```python
        completed = detector.update(framewise[:500])
        ```
        """
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 2 or chunk.shape[1] != self.num_classes:
            raise ValueError(f"framewise scores must be (frames, {self.num_classes}), got shape {chunk.shape}")
        if len(chunk) == 0:
            return self.events
        if self._left + self._right == 0:
            self._track(chunk)
            return self.events
        if self._raw is None:  # mode="nearest": the first frame repeats before the start
            self._raw = np.repeat(chunk[:1], self._left, axis=0)
        self._raw = np.concatenate([self._raw, chunk])
        ready = len(self._raw) - self._left - self._right
        if ready > 0:
            self._track(median_smooth(self._raw, self._left + self._right + 1)[self._left : self._left + ready])
            self._raw = self._raw[ready:]
        return self.events

    def open_events(self):
        """`(index, onset, peak)` of the runs still open that already count as events.

        A run counts once it has reached `high` and lasted `min_duration`;
        what it will be when it ends (its offset, maybe a higher peak) is not
        known yet. Live detection reports its start from here.

        Returns:
            A list of `(class index, onset seconds, peak score)`.

        Example:
        ```python
        for index, onset, peak in detector.open_events():
            print(f"{model.labels[index]} since {onset:.1f} s")
        ```
        """
        found = []
        for index in np.flatnonzero(self._run_start >= 0):
            start, peak = int(self._run_start[index]), float(self._run_peak[index])
            if peak >= self.high[index] and (self._frame - start) / self.frame_rate >= self.min_duration:
                found.append((int(index), self.start_time + start / self.frame_rate, peak))
        return found

    def finish(self):
        """Flushes the stream; returns all events, sorted by onset then label.

        Returns:
            A list of `SoundEvent`.

        Example:
        ```python
        events = detector.finish()  # the runs still open end at the last frame
        ```
        """
        if self._raw is not None and len(self._raw) > self._left:
            # mode="nearest" at the end: the last frame repeats after it.
            tail = np.concatenate([self._raw, np.repeat(self._raw[-1:], self._right, axis=0)])
            pending = len(self._raw) - self._left
            self._track(median_smooth(tail, self._left + self._right + 1)[self._left : self._left + pending])
        self._raw = None
        for index in np.flatnonzero(self._run_start >= 0):
            self._close(index, self._frame)
        return sorted(self.events, key=lambda e: (e.onset, e.label))

    def _track(self, scores):
        active = scores >= self.low
        candidates = np.flatnonzero(active.any(axis=0) | (self._run_start >= 0))
        for index in candidates:
            column, on = scores[:, index], active[:, index]
            previous = np.concatenate([[self._run_start[index] >= 0], on[:-1]])
            for frame in np.flatnonzero(on != previous):
                if on[frame]:
                    self._run_start[index] = self._frame + frame
                    self._run_peak[index] = -np.inf
                else:
                    first = max(self._run_start[index] - self._frame, 0)
                    if frame > first:  # else the run ended with the previous chunk
                        self._run_peak[index] = max(self._run_peak[index], column[first:frame].max())
                    self._close(index, self._frame + frame)
            if self._run_start[index] >= 0:
                first = max(self._run_start[index] - self._frame, 0)
                self._run_peak[index] = max(self._run_peak[index], column[first:].max())
        self._frame += len(scores)

    def _close(self, index, end):
        start, peak = int(self._run_start[index]), float(self._run_peak[index])
        self._run_start[index] = -1
        if peak >= self.high[index] and (end - start) / self.frame_rate >= self.min_duration:
            label = self.labels[index] if self.labels is not None else f"class_{index}"
            self.events.append(
                SoundEvent(
                    label,
                    int(index),
                    self.start_time + start / self.frame_rate,
                    self.start_time + end / self.frame_rate,
                    peak,
                )
            )


def detect_events(
    framewise: np.ndarray,
    *,
    frame_rate: float = 100.0,
    labels: Sequence[str] | None = None,
    high: float = 0.5,
    low: float = 0.2,
    median_window: int = 1,
    min_duration: float = 0.0,
    start_time: float = 0.0,
) -> list[SoundEvent]:
    """Turns framewise scores `(frames, classes)` into events, by hysteresis.

    An event is a maximal run of frames scoring at least `low` that contains
    a frame scoring at least `high`: `high` decides whether something
    happened, `low` how long it lasted, so a score hovering around one
    threshold does not fragment an event. For output too long for memory,
    feed an `EventDetector` chunk by chunk instead.

    Args:
        framewise: array `(frames, classes)` (e.g. a SED model's `framewise_output[0]`).
        frame_rate: float. Frames per second (`sample_rate / hop_size`, 100 for PANNs).
        labels: list of str or None. Class names (default `class_<i>`).
        high: float, or one per class (e.g. `OperatingPoints.event_thresholds`). Score that triggers an event.
        low: float, or one per class. Score below which an event ends (<= high).
        median_window: int. Median smoothing width in frames (1 = none).
        min_duration: float. Shorter events are dropped, in seconds.
        start_time: float. Time of frame 0, in seconds.

    Returns:
        A list of `SoundEvent`, sorted by onset then label.

    Raises:
        ValueError: the scores are not `(frames, classes)`.

    Example:
    ```python
    out = sed_model.predict(waveform[None])
    events = detect_events(out["framewise_output"][0], labels=sed_model.labels, high=0.5, low=0.2)
    ```
    """
    framewise = np.asarray(framewise, dtype=np.float32)
    if framewise.ndim != 2:
        raise ValueError(f"framewise scores must be (frames, classes), got shape {framewise.shape}")
    detector = EventDetector(
        framewise.shape[1],
        frame_rate=frame_rate,
        labels=labels,
        high=high,
        low=low,
        median_window=median_window,
        min_duration=min_duration,
        start_time=start_time,
    )
    detector.update(framewise)
    return detector.finish()


_CSV_FIELDS = ("onset", "offset", "label", "index", "score")


def events_to_csv(events: Iterable[SoundEvent], file: TextIO | None = None) -> str | None:
    """Writes events as CSV (`onset,offset,label,index,score`); returns the text if `file` is None.

    Args:
        events: iterable of `SoundEvent`.
        file: a text file object, or None.

    Returns:
        The CSV text, or None when written to `file`.

    Example:
    ```python
    with open("events.csv", "w") as f:
        keras_panns.events_to_csv(events, f)
    ```
    """
    buffer = io.StringIO() if file is None else file
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in events:
        row = event.to_dict()
        writer.writerow({k: row[k] for k in _CSV_FIELDS})
    return buffer.getvalue() if file is None else None


def events_to_json(events: Iterable[SoundEvent]) -> str:
    """Events as a JSON string (a list of objects).

    Args:
        events: iterable of `SoundEvent`.

    Returns:
        str.

    Example:
    ```python
    keras_panns.events_to_json(events)  # '[{"label": "Dog", "index": 74, "onset": 1.2, ...}]'
    ```
    """
    return json.dumps([e.to_dict() for e in events], indent=2)
