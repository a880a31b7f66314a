"""Framewise scores to sound events: onset/offset per class with hysteresis."""

import csv
import dataclasses
import io
import json

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
    """

    label: str
    index: int
    onset: float
    offset: float
    score: float

    def to_dict(self):
        return {"label": self.label, "index": self.index, "onset": round(self.onset, 3),
                "offset": round(self.offset, 3), "score": round(self.score, 4)}


def median_smooth(framewise, window):
    """Median filter of width `window` frames along time, per class (edges repeat)."""
    if window <= 1:
        return np.asarray(framewise)
    from scipy.ndimage import median_filter

    return median_filter(np.asarray(framewise), size=(int(window), 1), mode="nearest")


def detect_events(framewise, *, frame_rate=100.0, labels=None, high=0.5, low=0.2, median_window=1,
                  min_duration=0.0, start_time=0.0):
    """Turns framewise scores `(frames, classes)` into events, by hysteresis.

    An event is a maximal run of frames scoring at least `low` that contains
    a frame scoring at least `high`: `high` decides whether something
    happened, `low` how long it lasted, so a score hovering around one
    threshold does not fragment an event.

    Args:
        framewise: array `(frames, classes)` (e.g. a SED model's `framewise_output[0]`).
        frame_rate: float. Frames per second (`sample_rate / hop_size`, 100 for PANNs).
        labels: list of str or None. Class names (default `class_<i>`).
        high: float. Score that triggers an event.
        low: float. Score below which an event ends (<= high).
        median_window: int. Median smoothing width in frames (1 = none).
        min_duration: float. Shorter events are dropped, in seconds.
        start_time: float. Time of frame 0, in seconds.

    Returns:
        A list of `SoundEvent`, sorted by onset then label.

    Example:
    ```python
    out = sed_model.predict(waveform[None])
    events = detect_events(out["framewise_output"][0], labels=sed_model.labels, high=0.5, low=0.2)
    ```
    """
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got low={low}, high={high}")
    scores = median_smooth(np.asarray(framewise, dtype=np.float32), median_window)
    if scores.ndim != 2:
        raise ValueError(f"framewise scores must be (frames, classes), got shape {scores.shape}")
    events = []
    for index in np.flatnonzero(scores.max(axis=0) >= high):
        column = scores[:, index]
        active = np.concatenate([[False], column >= low, [False]])
        edges = np.flatnonzero(np.diff(active.astype(np.int8)))
        for start, end in zip(edges[0::2], edges[1::2]):
            peak = float(column[start:end].max())
            duration = (end - start) / frame_rate
            if peak >= high and duration >= min_duration:
                label = labels[index] if labels is not None else f"class_{index}"
                events.append(SoundEvent(label, int(index), start_time + start / frame_rate,
                                         start_time + end / frame_rate, peak))
    return sorted(events, key=lambda e: (e.onset, e.label))


_CSV_FIELDS = ("onset", "offset", "label", "index", "score")


def events_to_csv(events, file=None):
    """Writes events as CSV (`onset,offset,label,index,score`); returns the text if `file` is None."""
    buffer = io.StringIO() if file is None else file
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in events:
        row = event.to_dict()
        writer.writerow({k: row[k] for k in _CSV_FIELDS})
    return buffer.getvalue() if file is None else None


def events_to_json(events):
    """Events as a JSON string (a list of objects)."""
    return json.dumps([e.to_dict() for e in events], indent=2)
