"""Live tagging and sound events: push audio as it arrives, get results as soon as each hop completes.

`Stream` cuts the stream into the same windows as the offline functions
(`tag_long`, `sed_long`, `detect_events_long`): one every `hop_seconds`,
`window_seconds` long, and at the end one more aligned with the end of the
audio. Its window tags equal `tag_long`'s window scores and its events
equal `detect_events_long`'s, so a live run and a later batch run of the
same audio never disagree.

Before the first full window nothing is reported: PANNs pool over their
whole input, so scoring a zero-padded partial window would change the
scores. A stream that ends before one window is scored once, over all of it
(as the offline functions do with a short file), if it reaches the model's
minimum length.

Latency: a window's tags come as soon as the window is complete. An event
start is reported once its frames are final, i.e. once every window that
covers them has been scored: about one window after the onset (plus a hop).
A smaller window reports sooner; `keras-panns listen` defaults to 5 s every
1 s.

Example:
```python
sed = keras_panns.Cnn14_DecisionLevelMax.from_pretrained()
stream = keras_panns.Stream(sed, window_seconds=5, hop_seconds=1)
for chunk in microphone_chunks():                 # any size, int16 or float32, any rate
    for result in stream.push(chunk, sample_rate=48000):
        print(result.kind, result.label, result.onset, result.offset)
for result in stream.close():                     # closes the events still open
    print(result.kind, result.label, result.onset, result.offset)
```
"""

import dataclasses

import numpy as np

from keras_panns.audio import check_waveform
from keras_panns.errors import AudioError
from keras_panns.events import EventDetector
from keras_panns.labels import top_k_indices
from keras_panns.long_audio import FrameStitcher, window_starts


@dataclasses.dataclass
class StreamResult:
    """One thing a stream reports.

    Attributes:
        kind: str. `"tags"` (one of a window's top-k classes), `"event_start"` or `"event_end"`.
        label: str. Class name.
        index: int. Class index.
        onset: float. Seconds from the stream's start: the window's start, or the event's onset.
        offset: float or None. The window's end, or the event's offset (None while it is open).
        score: float. The class's window score, or the event's peak score (so far, for a start).
        reported_at: float. Seconds of audio the stream had received when this was reported.

    Example:
    ```python
    for result in stream.push(chunk):
        if result.kind == "event_start":
            print(f"{result.label} began at {result.onset:.1f} s")
    ```
    """

    kind: str
    label: str
    index: int
    onset: float
    offset: float
    score: float
    reported_at: float

    def to_dict(self):
        """The result as a JSON-ready dict: one line of `keras-panns listen --format jsonl`.

        Returns:
            dict with `kind`, `label`, `index`, `onset`, `offset`, `score`, `reported_at`.

        Example:
        ```python
        print(json.dumps(result.to_dict()))  # {"kind": "tags", "label": "Speech", "index": 0, ...}
        ```
        """
        return {
            "kind": self.kind,
            "label": self.label,
            "index": self.index,
            "onset": round(self.onset, 3),
            "offset": None if self.offset is None else round(self.offset, 3),
            "score": round(self.score, 6),
            "reported_at": round(self.reported_at, 3),
        }


#: Models smaller than this many parameters (MobileNets, Cnn6, LeeNet11, ...) step every 0.5 s by default.
_SMALL_MODEL = 10_000_000


def default_timing(model):
    """`(window_seconds, hop_seconds)` a live stream uses by default for `model`.

    5-s windows: long enough for PANNs' pooling (trained on 10 s) and half the
    event-report delay of 10-s windows. The hop sets the cost, one window per
    hop: 0.5 s for small models, 1 s for the Cnn14-sized ones, which keeps
    every zoo model below real time on 2 CPU cores (see docs/live.md's table).

    Args:
        model: a `PANNsModel`.

    Returns:
        `(float, float)`, seconds.

    Example:
    ```python
    default_timing(keras_panns.Cnn14())  # (5.0, 1.0)
    ```
    """
    return 5.0, (0.5 if model.count_params() < _SMALL_MODEL else 1.0)


class _Resampler:
    """Streaming resampling to the model's rate with soxr's stream mode (soxr is librosa's resampler)."""

    def __init__(self, source_rate, target_rate):
        self.source_rate, self.target_rate = int(source_rate), int(target_rate)
        self._stream = None
        if self.source_rate != self.target_rate:
            import soxr

            self._stream = soxr.ResampleStream(self.source_rate, self.target_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, waveform, last=False):
        if self._stream is None:
            return waveform
        return self._stream.resample_chunk(waveform, last=last).astype(np.float32, copy=False)


class Stream:
    """Live window tags and sound events from audio pushed chunk by chunk.

    Args:
        model: a PANNs model. Tags come from `clipwise_output`; events need a
            SED model (`framewise_output`), e.g. `Cnn14_DecisionLevelMax` or
            `Cnn14_DecisionLevelMax.from_tagger(Cnn14.from_pretrained("cnn14_16k"))`.
        window_seconds: float or None. Window length (default: `default_timing(model)`).
        hop_seconds: float or None. Step between windows (default: `default_timing(model)`).
        top_k: int. Tags reported per window (0: none).
        high: as `detect_events`.
        low: as `detect_events`.
        median_window: as `detect_events`.
        min_duration: as `detect_events`.
        classes: iterable of int or None. Report only these classes (e.g. `labels.group_union(["Vehicle"])`).
        runtime: where each window's forward pass runs, as `keras_panns.tag`.
        precision: where each window's forward pass runs, as `keras_panns.tag`.
        operating_points: `keras_panns.decisions.OperatingPoints` or None. Classes with an event point are
            detected at its high and low (the others at `high` and `low`); refused for another model.

    Raises:
        AudioError (from `push`): NaN samples, a wrong shape, or a rate change
            mid-stream. The stream's state is kept: `close()` still reports
            the events that were open.

    Example:
    ```python
    stream = keras_panns.Stream(sed, top_k=0)   # events only
    for chunk in microphone_chunks():           # e.g. 0.5-s float32 blocks at 32 kHz
        for result in stream.push(chunk):
            print(result.to_dict())
    stream.close()
    ```
    """

    def __init__(
        self,
        model,
        *,
        window_seconds=None,
        hop_seconds=None,
        top_k=3,
        high=0.5,
        low=0.2,
        median_window=1,
        min_duration=0.0,
        classes=None,
        runtime="keras",
        precision="auto",
        operating_points=None,
    ):
        default_window, default_hop = default_timing(model)
        window_seconds = default_window if window_seconds is None else window_seconds
        hop_seconds = default_hop if hop_seconds is None else hop_seconds
        self.window_seconds, self.hop_seconds = float(window_seconds), float(hop_seconds)
        from keras_panns.runtimes import get_runner

        self.model = model
        self._run = get_runner(model, runtime, precision)
        self.sample_rate = model.sample_rate
        self.labels = model.labels
        self.top_k = int(top_k)
        self.classes = None if classes is None else sorted(set(int(c) for c in classes))
        self._class_set = None if classes is None else set(self.classes)
        self.detects_events = "framewise_output" in model.output
        self.hop_size = model.config["hop_size"] if self.detects_events else 1
        self.window = int(round(window_seconds * self.sample_rate))
        self.hop = int(round(hop_seconds * self.sample_rate)) // self.hop_size * self.hop_size
        if self.hop <= 0:
            raise ValueError(f"hop_seconds={hop_seconds} is shorter than one frame")
        model.check_input_length(self.window)
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # global sample index of _buffer[0]
        self._received = 0  # samples at the model's rate
        self._next_start = 0
        self._last_start = None
        self._resampler = None
        self._closed = False
        if self.detects_events:
            from keras_panns.runtimes.fingerprint import event_thresholds_for

            precision = getattr(self._run, "precision", precision)
            high, low = event_thresholds_for(model, operating_points, high, low, precision)
            self._stitcher = FrameStitcher(self.hop_size)
            self._detector = EventDetector(
                model.config["num_classes"],
                frame_rate=self.sample_rate / self.hop_size,
                labels=self.labels,
                high=high,
                low=low,
                median_window=median_window,
                min_duration=min_duration,
            )
            self._started, self._ended = set(), 0

    @property
    def seconds(self):
        """Seconds of audio received so far (at the model's rate)."""
        return self._received / self.sample_rate

    # --- input ------------------------------------------------------------------------

    def _as_mono(self, chunk):
        chunk = np.asarray(chunk)
        if np.issubdtype(chunk.dtype, np.integer):
            scale = float(np.iinfo(chunk.dtype).max) + 1.0
            chunk = chunk.astype(np.float32) / scale
        if chunk.ndim == 2:
            chunk = chunk.mean(axis=1)
        if chunk.ndim != 1:
            raise AudioError(f"audio chunks must be (samples,) or (samples, channels), got shape {chunk.shape}")
        if chunk.size == 0:
            return chunk.astype(np.float32)
        return check_waveform(chunk, f"audio at {self.seconds:.2f} s")

    def push(self, chunk, sample_rate=None):
        """Adds audio; returns the results of every window that it completes, in order.

        Args:
            chunk: array `(samples,)` or `(samples, channels)`, float in [-1, 1] or integer PCM.
            sample_rate: int or None. The chunk's rate (default: the model's); fixed for a stream.

        Returns:
            A list of `StreamResult`.

        Raises:
            AudioError: the stream is closed, NaN samples, a wrong shape, or another rate than before.

        Example:
        ```python
        results = stream.push(np.frombuffer(pcm_bytes, np.int16), sample_rate=16000)
        ```
        """
        if self._closed:
            raise AudioError("the stream is closed")
        rate = int(sample_rate or self.sample_rate)
        if self._resampler is None:
            self._resampler = _Resampler(rate, self.sample_rate)
        elif rate != self._resampler.source_rate:
            raise AudioError(f"the stream's rate is {self._resampler.source_rate} Hz; got a chunk at {rate} Hz")
        waveform = self._resampler(self._as_mono(chunk))
        self._buffer = np.concatenate([self._buffer, waveform])
        self._received += len(waveform)
        results = []
        while self._next_start + self.window <= self._received:
            results += self._score(self._next_start, self.window)
            self._next_start += self.hop
        self._trim()
        return results

    def close(self):
        """Ends the stream: scores the last, end-aligned window and closes every open event.

        Returns:
            A list of `StreamResult` (empty when closed before).

        Example:
        ```python
        last = stream.close()  # the events still open end with the stream
        ```
        """
        if self._closed:
            return []
        self._closed = True
        results = []
        if self._resampler is not None and self._resampler.source_rate != self.sample_rate:
            tail = self._resampler(np.zeros(0, np.float32), last=True)
            self._buffer = np.concatenate([self._buffer, tail])
            self._received += len(tail)
        total = self._received
        if total == 0:
            return results
        if total <= self.window:
            if self._last_start is None:  # shorter than one window: one window over all of it
                self.model.check_input_length(total, "the stream")
                results += self._score(0, total, total_samples=total)
        else:
            starts = window_starts(total, self.window, self.hop, self.hop_size)
            pending = [s for s in starts if self._last_start is None or s > self._last_start]
            for start in pending:
                results += self._score(start, self.window, total_samples=total)
        if self.detects_events:
            results += self._events(*self._stitcher.finish(1 + total // self.hop_size), final=True)
        return results

    # --- scoring --------------------------------------------------------------------------

    def _trim(self):
        # Keep what the next regular window and a possible end-aligned one (on the frame grid, ending at the
        # last sample) may read.
        keep_from = min(self._next_start, max(0, self._received - self.window - self.hop_size))
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start = keep_from

    def _score(self, start, length, total_samples=None):
        offset = start - self._buffer_start
        window = self._buffer[offset : offset + length]
        outputs = self._run(window[None])
        self._last_start = start
        results = self._tags(start, length, np.asarray(outputs["clipwise_output"][0], np.float32))
        if self.detects_events:
            total = None if total_samples is None else 1 + total_samples // self.hop_size
            self._stitcher.add(start, np.asarray(outputs["framewise_output"][0], np.float32), total)
            if total_samples is None:
                # No later window starts before start + hop_size (the end-aligned one is on the frame grid
                # after this one), so every frame before that is final.
                results += self._events(*self._stitcher.release((start + self.hop_size) // self.hop_size))
        return results

    def _tags(self, start, length, scores):
        if not self.top_k:
            return []
        onset, offset = start / self.sample_rate, (start + length) / self.sample_rate
        return [
            StreamResult("tags", self.labels[i], i, onset, offset, float(scores[i]), self.seconds)
            for i in top_k_indices(scores, self.top_k, self.classes)
        ]

    def _events(self, first_frame, frames, final=False):
        detector = self._detector
        if len(frames):
            detector.update(frames)
        if final:
            detector.finish()
        results = []
        for event in detector.events[self._ended :]:
            if self._class_set is not None and event.index not in self._class_set:
                continue
            results += self._start_report(event.index, event.onset, event.score)
            results.append(
                StreamResult(
                    "event_end", event.label, event.index, event.onset, event.offset, event.score, self.seconds
                )
            )
        self._ended = len(detector.events)
        for index, onset, peak in detector.open_events():
            results += self._start_report(index, onset, peak)
        return results

    def _start_report(self, index, onset, peak):
        key = (index, round(onset * self.sample_rate))
        if key in self._started or (self._class_set is not None and index not in self._class_set):
            return []
        self._started.add(key)
        return [StreamResult("event_start", self.labels[index], index, onset, None, peak, self.seconds)]
