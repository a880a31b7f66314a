"""Span labels joined to the index's events: event points for `calibrate`, event metrics for `evaluate`.

The files evaluated are those with at least one span label (a label with a
start and an end); each is taken as annotated in full for the classes
evaluated, so an event of those classes outside its positive spans counts as
a false detection. A class is evaluated when these files hold positive spans
of it. The scores are the index's own events (`--outputs events`), scored by
their peaks (`event_metrics.score_tables`): every `high` at or above the one
the index was made with is evaluated exactly, without running the model
again, and the `low` stays the index's. So index with a lower `--high` than
you expect to keep (say 0.1, with `--low` 0.05) to let `calibrate` choose
from more.

Example:
```python
events = choose_event_points(index, annotations, ["Dog"], min_events=5)
events["Dog"]["high"], events["Dog"]["held_out"]["f1"]
```
"""

import numpy as np

from keras_panns import event_metrics
from keras_panns.calibration import wilson
from keras_panns.errors import ArchiveError


class EventSet:
    """The files, classes, ground truth and score tables event metrics are computed on.

    Args:
        index: `keras_panns.Index` with events.
        annotations: pandas DataFrame of labels (path, start, end, label, label_type), paths the index's.
        classes: sequence of str or None. Evaluate only these (of those with positive spans).

    Raises:
        ArchiveError: the index has no events (names `--outputs events`), or no span labels.

    Example:
    ```python
    data = EventSet(index, annotations)
    data.psds(1)
    ```
    """

    def __init__(self, index, annotations, classes=None):
        if "events" not in index.outputs:
            raise ArchiveError(
                f"{index.path} holds no events; index again with --outputs events (and a low --high) for event "
                "metrics and event points"
            )
        spans = annotations[annotations.start.notna() & annotations.end.notna()]
        files = index.files.set_index("path").duration.dropna()
        spans = spans[spans.path.isin(files.index)]
        if spans.empty:
            raise ArchiveError(f"{index.path}: no span labels (start and end) on indexed files to evaluate events on")
        self.durations = {path: float(files[path]) for path in sorted(spans.path.unique())}
        positives = spans[spans.label_type == "positive"]
        wanted = [name for name in index.labels if name in set(positives.label)]
        self.classes = [name for name in wanted if classes is None or name in set(classes)]
        options = index.manifest.get("events") or {}
        own = options.get("event_points") or {}  # classes the index detected at their own points
        self.high = {name: float(own.get(name, [options.get("high", 0.5)])[0]) for name in index.labels}
        self.low = {name: float(own.get(name, [0, options.get("low", 0.2)])[1]) for name in index.labels}
        self.truth = event_metrics.ground_truth(positives, self.classes, self.durations)
        self.tables = event_metrics.score_tables(index.events, self.durations, self.classes) if self.classes else {}

    def subset(self, files):
        """`(tables, truth, durations)` of some of the files.

        Args:
            files: iterable of str, paths among `durations`.

        Returns:
            `(tables, truth, durations)`, each a dict path -> value for those files.

        Example:
        ```python
        tables, truth, durations = data.subset(sorted(data.durations)[:10])
        ```
        """
        return (
            {f: self.tables[f] for f in files},
            {f: self.truth[f] for f in files},
            {f: self.durations[f] for f in files},
        )

    def events_per_class(self):
        """The number of ground-truth events of each class (spans merged).

        Returns:
            dict class -> int.

        Example:
        ```python
        data.events_per_class()  # {'Dog': 42}
        ```
        """
        counts = dict.fromkeys(self.classes, 0)
        for events in self.truth.values():
            for _, _, label in events:
                counts[label] += 1
        return counts

    def psds(self, scenario):
        """PSDS over every threshold at or above the index's high, on all the classes (`event_metrics.psds`).

        Args:
            scenario: 1 or 2 (`event_metrics.SCENARIOS`).

        Returns:
            float in [0, 1].

        Example:
        ```python
        data.psds(2)
        ```
        """
        return event_metrics.psds(self.tables, self.truth, self.durations, scenario)


def _rates(tps, fps, n_ref):
    precision = tps / (tps + fps) if tps + fps else 0.0
    recall = tps / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def choose_event_points(index, annotations, classes, *, min_events=5, folds=5, seed=0):
    """Per class, the event `high` with the best collar-based F1 on the span labels, proven on held-out files.

    The high is chosen on all the files; how it holds on files it was not chosen on is measured by
    cross-validation over files (each fold's high chosen on the other folds), the held-out counts pooled.

    Args:
        index: `keras_panns.Index` with events.
        annotations: pandas DataFrame of labels, paths the index's.
        classes: sequence of str. The classes to choose for (others are not evaluated).
        min_events: int. Fewest positive events (spans merged) a class needs.
        folds: int. Cross-validation folds over files (at most one per file).
        seed: int. The folds' shuffle.

    Returns:
        `(points, too_few)`: dict class -> {"high", "low", "f1", "support": {"events", "files"},
        "held_out": {"precision", "recall", "f1", "precision_ci", "recall_ci"}}, and the classes with fewer
        events than `min_events` or no high that finds one.

    Raises:
        ArchiveError: as `EventSet`.

    Example:
    ```python
    points, too_few = choose_event_points(index, annotations, ["Dog", "Music"], min_events=10)
    ```
    """
    from sklearn.model_selection import KFold

    data = EventSet(index, annotations, classes)
    counts = data.events_per_class()
    enough = [name for name in data.classes if counts[name] >= max(1, min_events)]
    too_few = sorted(set(classes) - set(enough), key=list(classes).index)
    if not enough:
        return {}, too_few
    best = event_metrics.best_collar_thresholds(data.tables, data.truth, data.classes)
    files = np.array(sorted(data.durations))
    pooled = {name: np.zeros(3, np.int64) for name in enough}  # tps, fps, n_ref
    splitter = KFold(n_splits=min(folds, len(files)), shuffle=True, random_state=seed) if len(files) > 1 else None
    for train, test in splitter.split(files) if splitter else []:
        tables, truth, _ = data.subset(files[train])
        chosen = event_metrics.best_collar_thresholds(tables, truth, data.classes)
        tables, truth, _ = data.subset(files[test])
        held = event_metrics.collar_scores(tables, truth, {c: max(t, data.high[c]) for c, (t, _) in chosen.items()})
        for name in enough:
            pooled[name] += [held[name]["tps"], held[name]["fps"], held[name]["n_ref"]]
    points = {}
    for name in enough:
        threshold, f1 = best[name]
        if not np.isfinite(threshold):
            too_few.append(name)
            continue
        tps, fps, n_ref = (int(v) for v in pooled[name])
        precision, recall, held_f1 = _rates(tps, fps, n_ref)
        points[name] = {
            # Below the index's own high there are no events to choose from: the same events.
            "high": float(min(max(threshold, data.high[name]), 1.0)),
            "low": data.low[name],
            "f1": f1,
            "support": {"events": counts[name], "files": len(files)},
            "held_out": {
                "precision": precision,
                "recall": recall,
                "f1": held_f1,
                "precision_ci": wilson(tps, tps + fps),
                "recall_ci": wilson(tps, n_ref),
            },
        }
    return points, too_few


def evaluate_events(index, annotations, points=None, high=None):
    """Event metrics on the span labels: PSDS (DCASE scenarios 1 and 2) and, per class, collar and segment F1.

    Args:
        index: `keras_panns.Index` with events.
        annotations: pandas DataFrame of labels, paths the index's.
        points: `OperatingPoints` or None. Each class's event high where it has one.
        high: float or None. The high of every other class (None: the index's own).

    Returns:
        dict: `psds1`, `psds2` (over every high at or above the index's), `files`, `hours`, and `classes`: one
        record per class (name, events, high, collar_f1/precision/recall, segment_f1/precision/recall).

    Raises:
        ArchiveError: as `EventSet`.

    Example:
    ```python
    evaluate_events(index, annotations)["psds1"]
    ```
    """
    data = EventSet(index, annotations)
    if not data.classes:
        raise ArchiveError(f"{index.path}: the span labels name no positive event to evaluate")
    thresholds = {name: data.high[name] if high is None else max(float(high), data.high[name]) for name in data.classes}
    for name in data.classes if points is not None else []:
        point = points.classes.get(name, {}).get("events")
        if point is not None:  # below the index's high there are no events: the same as at it
            thresholds[name] = max(float(point["high"]), data.high[name])
    collar = event_metrics.collar_scores(data.tables, data.truth, thresholds)
    segment = event_metrics.segment_scores(data.tables, data.truth, data.durations, thresholds)
    counts = data.events_per_class()
    records = [
        {
            "name": name,
            "events": counts[name],
            "high": thresholds[name],
            **{f"collar_{k}": collar[name][k] for k in ("f1", "precision", "recall")},
            **{f"segment_{k}": segment[name][k] for k in ("f1", "precision", "recall")},
        }
        for name in data.classes
    ]
    return {
        "psds1": data.psds(1),
        "psds2": data.psds(2),
        "files": len(data.durations),
        "hours": sum(data.durations.values()) / 3600.0,
        "classes": records,
    }
