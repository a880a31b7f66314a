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
from more. To choose the `low` too, the index's model runs again over the
files with span labels only (`framewise_scores`), and every low of
`LOW_GRID` is tried with every high above it (`calibrate --choose_low`).

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
        events: pandas DataFrame or None. Events to evaluate instead of the index's (path, label, onset,
            offset, score), such as `framewise_events` at another low.

    Raises:
        ArchiveError: the index has no events (names `--outputs events`), or no span labels.

    Example:
    ```python
    data = EventSet(index, annotations)
    data.psds(1)
    ```
    """

    def __init__(self, index, annotations, classes=None, events=None):
        if "events" not in index.outputs and events is None:
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
        events = index.events if events is None else events
        self.tables = event_metrics.score_tables(events, self.durations, self.classes) if self.classes else {}

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


#: The lows `choose_event_points` tries when it has the framewise scores (`calibrate --choose_low`).
LOW_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def framewise_scores(index, paths, checkpoint=None, progress=None):
    """The index's own model's framewise scores over some of its files, stitched as the index stitched them.

    Args:
        index: `keras_panns.Index`; its model is loaded from its manifest (`Index.model`), weights checked.
        paths: sequence of str. Files to score (those with span labels, for `choose_event_points`).
        checkpoint: str or None. The model's source when the manifest does not say.
        progress: callable(done, total) or None.

    Returns:
        dict path -> `(framewise float32 (frames, classes), frame rate)`.

    Raises:
        ArchiveError: the model cannot be found or is not the index's.

    Example:
    ```python
    framewise = framewise_scores(index, ["a.wav"])
    ```
    """
    from keras_panns.long_audio import sed_long
    from keras_panns.models.sed.sed import frame_scoring_model

    model = frame_scoring_model(index.model(checkpoint))
    window, hop = float(index.manifest["window_seconds"]), float(index.manifest["hop_seconds"])
    frame_rate = model.sample_rate / model.config["hop_size"]
    scores = {}
    for done, path in enumerate(paths, start=1):
        scores[path] = (sed_long(model, path, window_seconds=window, hop_seconds=hop), frame_rate)
        if progress is not None:
            progress(done, len(paths))
    return scores


def framewise_events(framewise, labels, classes, low, median_window=1, min_duration=0.0):
    """The events of `classes` detected with `low` as both high and low, each scored by its peak.

    With events scored by their peaks, every high at or above `low` keeps exactly the events detection at
    that high (and this low) would find: one detection per low covers every high.

    Args:
        framewise: from `framewise_scores`.
        labels: sequence of str. The model's classes (the framewise columns).
        classes: sequence of str. The classes to detect.
        low: float.
        median_window: int. As the index detected (its manifest's events options).
        min_duration: float. As the index detected.

    Returns:
        pandas DataFrame with path, label, onset, offset and score.

    Example:
    ```python
    events = framewise_events(framewise_scores(index, paths), index.labels, ["Dog"], 0.3)
    ```
    """
    import pandas

    from keras_panns.events import detect_events

    columns = [list(labels).index(name) for name in classes]
    rows = []
    for path, (scores, frame_rate) in framewise.items():
        found = detect_events(
            scores[:, columns],
            frame_rate=frame_rate,
            labels=list(classes),
            high=low,
            low=low,
            median_window=median_window,
            min_duration=min_duration,
        )
        rows += [(path, e.label, e.onset, e.offset, e.score) for e in found]
    return pandas.DataFrame(rows, columns=["path", "label", "onset", "offset", "score"])


def choose_event_points(index, annotations, classes, *, min_events=5, folds=5, seed=0, framewise=None):
    """Per class, the event `high` (and with framewise scores the `low`) with the best collar-based F1 on the
    span labels, proven on held-out files.

    The point is chosen on all the files; how it holds on files it was not chosen on is measured by
    cross-validation over files (each fold's point chosen on the other folds), the held-out counts pooled.
    From the index's events, only highs at or above the index's can be chosen, with the index's low. With
    `framewise` (`framewise_scores`), every low of `LOW_GRID` is tried with every high above it.

    Args:
        index: `keras_panns.Index` with events.
        annotations: pandas DataFrame of labels, paths the index's.
        classes: sequence of str. The classes to choose for (others are not evaluated).
        min_events: int. Fewest positive events (spans merged) a class needs.
        folds: int. Cross-validation folds over files (at most one per file).
        seed: int. The folds' shuffle.
        framewise: dict or None. `framewise_scores` of the files with span labels: choose the low too.

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
    candidates = _candidates(index, annotations, data, enough, framewise)
    files = np.array(sorted(data.durations))
    pooled = {name: np.zeros(3, np.int64) for name in enough}  # tps, fps, n_ref
    splitter = KFold(n_splits=min(folds, len(files)), shuffle=True, random_state=seed) if len(files) > 1 else None
    for train, test in splitter.split(files) if splitter else []:
        chosen = _best(candidates, files[train], enough)
        for low, candidate in candidates.items():  # one count per low, of the classes whose point has it
            thresholds = {n: max(t, candidate.high[n]) for n, (at, t, _) in chosen.items() if at == low}
            if thresholds:
                tables, truth, _ = candidate.subset(files[test])
                for name, held in event_metrics.collar_scores(tables, truth, thresholds).items():
                    pooled[name] += [held["tps"], held["fps"], held["n_ref"]]
    points = {}
    for name, (low, threshold, f1) in _best(candidates, files, enough).items():
        if not np.isfinite(threshold):
            too_few.append(name)
            continue
        tps, fps, n_ref = (int(v) for v in pooled[name])
        precision, recall, held_f1 = _rates(tps, fps, n_ref)
        points[name] = {
            # Below the events' own high there are no events to choose from: the same events.
            "high": float(min(max(threshold, candidates[low].high[name]), 1.0)),
            "low": float(candidates[low].low[name]),
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


def _candidates(index, annotations, data, classes, framewise):
    """The event sets a point is chosen from, by low: the index's own, or one per `LOW_GRID` low."""
    if framewise is None:
        return {None: data}
    missing = sorted(set(data.durations) - set(framewise))
    if missing:
        raise ValueError(f"no framewise scores for {len(missing)} files with span labels, e.g. {missing[0]}")
    options = index.manifest.get("events") or {}
    median, shortest = int(options.get("median_window", 1)), float(options.get("min_duration", 0.0))
    candidates = {}
    for low in LOW_GRID:
        events = framewise_events(framewise, index.labels, classes, low, median, shortest)
        candidate = EventSet(index, annotations, classes, events=events)
        candidate.high = dict.fromkeys(index.labels, low)
        candidate.low = dict.fromkeys(index.labels, low)
        candidates[low] = candidate
    return candidates


def _best(candidates, files, classes):
    """Per class, `(low, high, f1)` with the best collar F1 on `files` over every candidate low (the high inf
    where none finds an event)."""
    best = {name: (next(iter(candidates)), float("inf"), 0.0) for name in classes}
    for low, candidate in candidates.items():
        tables, truth, _ = candidate.subset(files)
        for name, (threshold, f1) in event_metrics.best_collar_thresholds(tables, truth, classes).items():
            if np.isfinite(threshold) and (not np.isfinite(best[name][1]) or f1 > best[name][2]):
                best[name] = (low, threshold, f1)
    return best


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
