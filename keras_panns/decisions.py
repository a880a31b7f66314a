"""Operating points: per-class thresholds and score calibration chosen on labels, tied to one model.

PANNs' scores are not comparable across classes (0.3 may be a sure "Dog" and a
doubtful "Wind noise"), so one global threshold serves no class well.
`keras-panns calibrate` chooses, per class, the threshold that reaches a target
(precision, recall or the best F1) on labelled windows of an index, and a
logistic calibration (Platt scaling on the score's logit) that makes a
calibrated score read as a probability. This module is the result: a JSON file
that records the model it was chosen for and applies to that model's scores
only.

File layout (`format` `keras-panns-operating-points/1`):

```
{"format": ..., "model": {"model", "weights_sha256", "labels_sha256", "runtime", "precision"},
 "target": "precision=0.9", "default_threshold": 0.5,
 "classes": {"Dog": {"threshold": 0.31, "calibration": [a, b], "support": {...}, "held_out": {...},
                     "events": {"high": 0.42, "low": 0.2, "support": {...}, "held_out": {...}}}, ...},
 "too_few_labels": ["Cat", ...]}
```

Classes without a chosen point keep `default_threshold` and stay uncalibrated. A class's `events` (a
`high` chosen on collar-based event F1 over the index's events, and the `low` they were detected with) is
there only when it had enough labelled events; elsewhere event detection keeps the caller's high and low.

Example:
```python
points = OperatingPoints.load("points.json", model=manifest)  # refused for another model
decisions = points.decide(scores, labels)                       # bool (..., classes)
```
"""

import dataclasses
import hashlib
import json
import os

import numpy as np

from keras_panns.atomic import atomic_write
from keras_panns.errors import PANNsError

FORMAT = "keras-panns-operating-points/1"
#: The model keys a file must share with the model it is applied to: the scores depend on each of them.
#: The runtime is recorded but not compared: float32 runtimes agree within 1e-4 (auto's agreement check).
MATCHED_KEYS = ("model", "weights_sha256", "labels_sha256", "precision")


class OperatingPointsError(PANNsError, ValueError):
    """An operating-points file that is unreadable, malformed, or made for another model.

    Example:
    ```python
    try:
        OperatingPoints.load("points.json", model=manifest)
    except OperatingPointsError as exc:
        print(exc)  # names the file and the difference
    ```
    """


def labels_sha256(labels):
    """sha256 of the class names in order, as the index manifest's `labels_sha256` (of their JSON list).

    Args:
        labels: sequence of str.

    Returns:
        str, 64 hex digits.

    Example:
    ```python
    labels_sha256(["Speech", "Dog", "Music"])[:8]
    ```
    """
    return hashlib.sha256(json.dumps(list(labels)).encode()).hexdigest()


def logit(scores):
    """The log-odds of scores, clipped to [1e-7, 1 - 1e-7] first.

    Args:
        scores: float array-like in [0, 1].

    Returns:
        float64 array, the same shape.

    Example:
    ```python
    logit(np.array([0.5]))  # array([0.])
    ```
    """
    p = np.clip(np.asarray(scores, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


@dataclasses.dataclass
class OperatingPoints:
    """Per-class thresholds and calibrations for the scores of one model.

    Attributes:
        model: dict. The model they were chosen for (`MATCHED_KEYS`, plus the runtime).
        target: str. What each threshold reaches on the labels (`precision=0.9`, `recall=0.8`, `f1`).
        classes: dict name -> {"threshold": float, "calibration": [a, b] or None, "support": dict,
            "held_out": dict}.
        default_threshold: float. The threshold of every other class.
        too_few_labels: list of str. Classes with labels, too few to choose a point from.
        too_few_events: list of str. Classes with a point but no event high: too few labelled events, or no
            detected event that meets a labelled one (collar) at any high.

    Example:
    ```python
    points = OperatingPoints.load("points.json")
    points.thresholds(model.labels)  # float32 (527,), the default where no point was chosen
    ```
    """

    model: dict
    target: str
    classes: dict
    default_threshold: float = 0.5
    too_few_labels: list = dataclasses.field(default_factory=list)
    too_few_events: list = dataclasses.field(default_factory=list)

    def thresholds(self, labels):
        """Each class's threshold, `default_threshold` where none was chosen.

        Args:
            labels: sequence of str, the scores' classes in output order.

        Returns:
            float32 array `(len(labels),)`.

        Example:
        ```python
        points.thresholds(["Speech", "Dog"])  # array([0.5, 0.31], dtype=float32)
        ```
        """
        return np.array(
            [self.classes.get(name, {}).get("threshold", self.default_threshold) for name in labels], np.float32
        )

    def event_thresholds(self, labels, high=0.5, low=0.2):
        """Each class's event `high` and `low` (chosen on event metrics), the given defaults where none was.

        Args:
            labels: sequence of str, the scores' classes in output order.
            high: float. The `high` of classes without an event point.
            low: float. The `low` of classes without an event point.

        Returns:
            `(high, low)`: float32 arrays `(len(labels),)`, as `detect_events` and `EventDetector` take them.

        Example:
        ```python
        high, low = points.event_thresholds(sed.labels)
        keras_panns.detect_events(framewise, labels=sed.labels, high=high, low=low)
        ```
        """
        pairs = [self.classes.get(name, {}).get("events") or {} for name in labels]
        return (
            np.array([pair.get("high", high) for pair in pairs], np.float32),
            np.array([min(pair.get("low", low), pair.get("high", high)) for pair in pairs], np.float32),
        )

    def event_points(self):
        """The classes with an event point, as `IndexSpec(event_points=...)` takes them.

        Returns:
            list of `(class name, high, low)`.

        Example:
        ```python
        spec = IndexSpec(outputs=("events", "scores"), event_points=points.event_points())
        ```
        """
        return [
            (name, float(point["events"]["high"]), float(point["events"]["low"]))
            for name, point in self.classes.items()
            if point.get("events")
        ]

    def calibrate(self, scores, labels):
        """Calibrated scores: `sigmoid(a * logit(score) + b)` per class; classes without a calibration as they are.

        Args:
            scores: float array `(..., len(labels))`.
            labels: sequence of str, the scores' classes.

        Returns:
            float32 array, the same shape.

        Example:
        ```python
        points.calibrate(clipwise, model.labels)  # 0.9 now means right 9 times in 10 on the labels
        ```
        """
        scores = np.asarray(scores, np.float32)
        out = scores.copy()
        for index, name in enumerate(labels):
            calibration = self.classes.get(name, {}).get("calibration")
            if calibration is not None:
                a, b = calibration
                out[..., index] = 1.0 / (1.0 + np.exp(-(a * logit(scores[..., index]) + b)))
        return out

    def decide(self, scores, labels):
        """Each score at or above its class's threshold.

        Args:
            scores: float array `(..., len(labels))`.
            labels: sequence of str, the scores' classes.

        Returns:
            bool array, the scores' shape.

        Example:
        ```python
        present = points.decide(clipwise, model.labels)
        ```
        """
        return np.asarray(scores) >= self.thresholds(labels)

    def check_model(self, model, source="operating points"):
        """Refuses a model whose scores these points were not chosen on (one line naming the difference).

        Args:
            model: dict with any of `MATCHED_KEYS` (an index manifest, or `fingerprint(...)`).
            source: str. What to call the points in the message (their file).

        Raises:
            OperatingPointsError: a key both record differs.

        Example:
        ```python
        points.check_model(index.manifest)
        ```
        """
        if isinstance(model.get("runtime"), dict):  # an index manifest
            model = index_fingerprint(model)
        for key in MATCHED_KEYS:
            mine, theirs = self.model.get(key), model.get(key)
            if mine is not None and theirs is not None and mine != theirs:
                shown = (lambda v: f"{v[:12]}...") if key.endswith("sha256") else repr
                raise OperatingPointsError(
                    f"{source} were chosen for another model: {key} {shown(mine)} there, {shown(theirs)} here; "
                    "calibrate again on an index of this model"
                )

    def to_json(self):
        """The file's JSON object.

        Example:
        ```python
        json.dumps(points.to_json())
        ```
        """
        return {
            "format": FORMAT,
            "model": self.model,
            "target": self.target,
            "default_threshold": self.default_threshold,
            "classes": self.classes,
            "too_few_labels": list(self.too_few_labels),
            "too_few_events": list(self.too_few_events),
        }

    def save(self, path):
        """Writes the file atomically (a crash leaves the old file or none, never half of one).

        Example:
        ```python
        points.save("points.json")
        ```
        """
        with atomic_write(os.fspath(path)) as f:
            json.dump(self.to_json(), f, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path, model=None):
        """Reads a file, checked against `model` when given.

        Args:
            path: str or path-like.
            model: dict or None. The model's fingerprint (see `check_model`).

        Returns:
            `OperatingPoints`.

        Raises:
            OperatingPointsError: unreadable, not an operating-points file, malformed, or for another model.

        Example:
        ```python
        points = OperatingPoints.load("points.json", model=index.manifest)
        ```
        """
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise OperatingPointsError(f"{path}: unreadable operating points ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise OperatingPointsError(f"{path}: not a {FORMAT} file (write one with keras-panns calibrate)")
        try:
            points = cls(
                model=dict(data["model"]),
                target=str(data["target"]),
                classes={str(k): dict(v) for k, v in data["classes"].items()},
                default_threshold=float(data["default_threshold"]),
                too_few_labels=list(data.get("too_few_labels", [])),
                too_few_events=list(data.get("too_few_events", [])),
            )
            for name, point in points.classes.items():
                threshold = float(point["threshold"])
                if not 0.0 <= threshold <= 1.0:
                    raise ValueError(f"class {name!r}: threshold {threshold} is not in [0, 1]")
                if point.get("calibration") is not None and len(point["calibration"]) != 2:
                    raise ValueError(f"class {name!r}: calibration must be [a, b]")
                events = point.get("events")
                if events is not None and not 0.0 <= float(events["low"]) <= float(events["high"]) <= 1.0:
                    raise ValueError(f"class {name!r}: events need 0 <= low <= high <= 1, got {events}")
        except (KeyError, TypeError, ValueError) as exc:
            raise OperatingPointsError(f"{path}: malformed operating points ({exc})") from exc
        if model is not None:
            points.check_model(model, source=path)
        return points


def index_fingerprint(manifest):
    """The fingerprint an operating-points file records, for the model of an index (from its manifest).

    Args:
        manifest: dict, an index's `manifest.json`.

    Returns:
        dict with `MATCHED_KEYS`, the runtime, and the model's name and zoo card.

    Example:
    ```python
    index_fingerprint(Index("recordings.index").manifest)["precision"]  # 'float32'
    ```
    """
    runtime = manifest.get("runtime") or {}
    return {
        "model": manifest.get("model"),
        "model_name": manifest.get("model_name"),
        "zoo_card": manifest.get("zoo_card"),
        "weights_sha256": manifest.get("weights_sha256"),
        "labels_sha256": manifest.get("labels_sha256"),
        "runtime": runtime.get("runtime"),
        "precision": runtime.get("precision"),
    }


def fingerprint(model, weights_digest, runtime="keras", precision="float32"):
    """The fingerprint an operating-points file records, for a Keras model as it runs now.

    Args:
        model: a keras_panns model.
        runtime: str. The runtime its scores come from.
        precision: str. Its precision.
        weights_digest: str. `keras_panns.runtimes.fingerprint.weights_sha256(model)`.

    Returns:
        dict with `MATCHED_KEYS` and `runtime`.

    Example:
    ```python
    points.check_model(fingerprint(model, weights_sha256(model)))  # or runtimes.fingerprint.model_fingerprint
    ```
    """
    return {
        # A compiled model (no Keras) records its architecture; one from an older cache has None: not compared.
        "model": model.architecture if hasattr(model, "architecture") else type(model).__name__,
        "weights_sha256": weights_digest,
        "labels_sha256": labels_sha256(model.labels),
        "runtime": runtime,
        "precision": precision,
    }
