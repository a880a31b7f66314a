"""Batch inference helpers: tag files or arrays with a loaded model."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_panns.audio import AudioInput, check_waveform, load_audio, resample
from keras_panns.errors import AudioError, PANNsError
from keras_panns.labels import top_k_indices

if TYPE_CHECKING:
    from keras_panns.decisions import OperatingPoints
    from keras_panns.models import PANNsModel


@dataclasses.dataclass
class TagResult:
    """The tags of one clip.

    Attributes:
        source: str. File path, or `"array[i]"` for an array input.
        tags: list of `(label, score)`, best first (empty on error).
        scores: float32 array `(num_classes,)` or None on error.
        error: str or None. Why this clip could not be tagged.

    Example:
    ```python
    result = next(keras_panns.iter_tags(model, "speech.wav"))
    result.tags[0]     # ('Speech', 0.89)
    result.to_dict()   # {'file': 'speech.wav', 'tags': [{'label': 'Speech', 'score': 0.89}, ...]}
    ```
    """

    source: str
    tags: list = dataclasses.field(default_factory=list)
    scores: np.ndarray = None
    error: str = None

    def to_dict(self):
        """`{"file", "tags"}` (scores to 6 decimals), or `{"file", "error"}`: one line of `keras-panns tag`'s JSON.

        Returns:
            dict.

        Example:
        ```python
        lines = [json.dumps(r.to_dict()) for r in keras_panns.iter_tags(model, paths)]
        ```
        """
        if self.error is not None:
            return {"file": self.source, "error": self.error}
        return {
            "file": self.source,
            "tags": [{"label": label, "score": round(float(score), 6)} for label, score in self.tags],
        }


def predict_waveforms(
    model: PANNsModel,
    waveforms: Sequence[np.ndarray],
    batch_size: int = 8,
    runtime: str | Callable = "keras",
    precision: str = "auto",
) -> list[dict[str, np.ndarray]]:
    """Runs `model` on mono waveforms of any lengths; returns one output dict per clip.

    Clips are batched only with clips of the same length, so every result is
    what the clip gives alone (zero padding would change PANNs' max/mean
    pooling). `runtime`/`precision` choose where the forward pass runs (see
    `keras_panns.runtimes.get_runner`; a runner it built is accepted too).

    Args:
        model: a `PANNsModel`.
        waveforms: list of float32 arrays `(samples,)` at the model's rate.
        batch_size: int. Clips per forward pass.
        runtime: str (`"keras"`, `"openvino"`, `"auto"`, ...) or a runner.
        precision: str. `"auto"`, `"float32"`, `"bfloat16"` or `"int8"`, where the runtime has it.

    Returns:
        A list of `{output name: array}` dicts, one per waveform, without the batch axis.

    Raises:
        AudioError: a waveform is shorter than `model.min_samples`.
        RuntimeUnavailableError: the runtime or precision cannot run here.

    Example:
    ```python
    outs = predict_waveforms(model, [np.zeros(320000, "float32")])
    outs[0]["clipwise_output"].shape   # (527,)
    ```
    """
    from keras_panns.runtimes import get_runner

    run = get_runner(model, runtime, precision) if waveforms else None
    results = [None] * len(waveforms)
    by_length = defaultdict(list)
    for i, w in enumerate(waveforms):
        model.check_input_length(len(w))
        by_length[len(w)].append(i)
    for indices in by_length.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = np.stack([waveforms[i] for i in chunk])
            outputs = run(batch)
            for row, i in enumerate(chunk):
                results[i] = {k: np.asarray(v[row]) for k, v in outputs.items()}
    return results


def top_k_labels(
    scores: np.ndarray, labels: Sequence[str], k: int, classes: Iterable[int] | None = None
) -> list[tuple[str, float]]:
    """The `k` best `(label, score)` pairs of a score vector, best first; only `classes` (indices) if given.

    Args:
        scores: array `(num_classes,)`.
        labels: list of str, one per class.
        k: int.
        classes: iterable of int or None.

    Returns:
        A list of `(str, float)`.

    Example:
    ```python
    top_k_labels(np.array([0.1, 0.9]), ["Speech", "Music"], 1)  # [('Music', 0.9)]
    ```
    """
    return [(labels[i], float(scores[i])) for i in top_k_indices(scores, k, classes)]


def _as_items(audio):
    if isinstance(audio, (str, os.PathLike)):
        return [audio], True
    if isinstance(audio, np.ndarray):
        return (list(audio), False) if audio.ndim == 2 else ([audio], True)
    return list(audio), False


def iter_tags(
    model: PANNsModel,
    audio: AudioInput,
    *,
    top_k: int = 5,
    sample_rate: int | None = None,
    batch_size: int = 8,
    chunk_size: int = 64,
    progress: bool = False,
    classes: Iterable[int] | None = None,
    runtime: str | Callable = "keras",
    precision: str = "auto",
    operating_points: OperatingPoints | None = None,
    calibrated: bool = False,
) -> Iterator[TagResult]:
    """Yields a `TagResult` per input, in order; a bad input yields an error result.

    Loads at most `chunk_size` clips at a time, so memory stays bounded for
    any number of files. `classes` (output indices, e.g.
    `labels.group_union(["Vehicle"])`) limits the top-k to those classes.
    With `operating_points`, a clip's tags are every class at or above its
    own threshold, best first (`top_k` does not apply), and `calibrated`
    gives the tags' calibrated scores (`TagResult.scores` stay the model's).

    Args:
        model: a `PANNsModel`.
        audio: a path, a list of paths, a waveform `(samples,)`, a batch `(clips, samples)` or a list of waveforms.
        top_k: int. Tags per clip.
        sample_rate: int or None. The rate of array inputs (resampled to the model's); None: already the model's.
        batch_size: int. Clips per forward pass.
        chunk_size: int. Clips loaded at a time.
        progress: bool. A tqdm bar on stderr.
        classes: iterable of int or None. Output indices the tags are chosen among.
        runtime: as `predict_waveforms`.
        precision: as `predict_waveforms`.
        operating_points: `keras_panns.decisions.OperatingPoints` or None. Per-class thresholds
            (`keras-panns calibrate`), checked against the model.
        calibrated: bool. Tags carry calibrated scores (needs `operating_points`).

    Yields:
        `TagResult`, one per input, in order.

    Example:
    ```python
    for result in keras_panns.iter_tags(model, sorted(glob.glob("clips/*.wav")), progress=True):
        print(result.source, result.error or result.tags[:3])
    ```
    """
    items, _ = _as_items(audio)
    labels = model.labels
    choose = _tag_chooser(model, labels, top_k, classes, operating_points, calibrated, runtime, precision)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), unit="file", file=sys.stderr, desc="tagging")
    try:
        for start in range(0, len(items), chunk_size):
            chunk = items[start : start + chunk_size]
            results, waveforms, slots = [], [], []
            for offset, item in enumerate(chunk):
                source = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"array[{start + offset}]"
                result = TagResult(source)
                try:
                    waveform = _to_waveform(model, item, source, sample_rate)
                    model.check_input_length(len(waveform), source)
                except PANNsError as exc:
                    result.error = str(exc)
                else:
                    waveforms.append(waveform)
                    slots.append(result)
                results.append(result)
            for result, output in zip(slots, predict_waveforms(model, waveforms, batch_size, runtime, precision)):
                result.scores = output["clipwise_output"]
                result.tags = choose(result.scores)
            for result in results:
                if bar is not None:
                    bar.update(1)
                yield result
    finally:
        if bar is not None:
            bar.close()


def _tag_chooser(model, labels, top_k, classes, operating_points, calibrated, runtime, precision):
    """`scores -> tags`: the top-k, or every class over its operating point."""
    if operating_points is None:
        if calibrated:
            raise ValueError("calibrated scores need operating_points (made by keras-panns calibrate)")
        return lambda scores: top_k_labels(scores, labels, top_k, classes)
    from keras_panns.runtimes.fingerprint import model_fingerprint

    operating_points.check_model(model_fingerprint(model, getattr(runtime, "precision", precision)))
    thresholds = operating_points.thresholds(labels)
    allowed = np.zeros(len(labels), bool)
    allowed[list(classes) if classes is not None else slice(None)] = True

    def choose(scores):
        shown = operating_points.calibrate(scores, labels) if calibrated else scores
        present = np.flatnonzero((scores >= thresholds) & allowed)
        return [(labels[i], float(shown[i])) for i in present[np.argsort(-scores[present], kind="stable")]]

    return choose


def _to_waveform(model, item, source, sample_rate):
    if isinstance(item, (str, os.PathLike)):
        return load_audio(item, model.sample_rate)
    waveform = check_waveform(item, source)
    if sample_rate is not None:
        waveform = resample(waveform, sample_rate, model.sample_rate)
    return waveform


def tag(
    model: PANNsModel,
    audio: AudioInput,
    *,
    top_k: int = 5,
    sample_rate: int | None = None,
    batch_size: int = 8,
    progress: bool = False,
    runtime: str | Callable = "keras",
    precision: str = "auto",
    operating_points: OperatingPoints | None = None,
    calibrated: bool = False,
) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
    """Top-k `(label, score)` pairs for each clip.

    Args:
        model: a PANNs tagging model (e.g. `Cnn14.from_pretrained()`).
        audio: a file path, a 1-D waveform, a 2-D batch of waveforms, or a
            list of paths/waveforms. Files are resampled to the model's rate.
        top_k: int. Tags per clip.
        sample_rate: int or None. Rate of array inputs; None means the model's.
        batch_size: int. Clips per forward pass.
        progress: bool. Show a progress bar.
        runtime: str or runner. `"keras"` (XLA-compiled float32 on TensorFlow),
            `"openvino"`, `"onnxruntime"`, `"litert"`, `"auto"` (the fastest path
            that agrees with Keras float32, measured once and cached), or a
            runner from `keras_panns.runtimes.get_runner`.
        precision: str. `"auto"`, `"float32"`, `"bfloat16"` or `"int8"`.
        operating_points: `keras_panns.decisions.OperatingPoints` or None: tags are then every class at
            or above its own threshold (see `iter_tags`).
        calibrated: bool. Calibrated scores in the tags (with `operating_points`).

    Returns:
        For a single path or 1-D waveform, its list of `(label, score)`;
        otherwise a list of such lists, in input order.

    Raises:
        PANNsError: an input cannot be tagged (`AudioError`, ...). Use
            `iter_tags` to get per-input errors instead.

    Example:
    ```python
    model = keras_panns.Cnn14.from_pretrained()
    keras_panns.tag(model, "R9_ZSCveAHg_7s.wav", top_k=3)
    # [('Speech', 0.893), ('Telephone bell ringing', 0.754), ('Inside, small room', 0.235)]
    ```
    """
    _, single = _as_items(audio)
    results = list(
        iter_tags(
            model,
            audio,
            top_k=top_k,
            sample_rate=sample_rate,
            batch_size=batch_size,
            progress=progress,
            runtime=runtime,
            precision=precision,
            operating_points=operating_points,
            calibrated=calibrated,
        )
    )
    for result in results:
        if result.error is not None:
            raise AudioError(result.error)
    tags = [r.tags for r in results]
    return tags[0] if single else tags
