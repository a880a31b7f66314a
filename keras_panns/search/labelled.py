"""Labels joined to the index's scores, and per-class operating points chosen on them (`keras-panns calibrate`).

A label on a span covers every window of its file that overlaps it by at least
half of the shorter of the two (a 1-s bark labels the 1-s window around it,
and a 60-s stretch labels each window inside it). A label on a whole file (no
start and end) is an example of the file's best window for that class, as a
clip's score is its best window's. Uncertain labels are left out. A window
that both a positive and a negative span of the same class cover counts as
positive: the sound is in it.

Example:
```python
points = calibrate_index(Index("recordings.index"), "precision=0.9")
points.save("points.json")
```
"""

import numpy as np

from keras_panns.archive.annotations import Annotations, resolve_labels
from keras_panns.calibration import MIN_LABELS, choose_point, parse_target
from keras_panns.decisions import OperatingPoints, index_fingerprint
from keras_panns.errors import ArchiveError
from keras_panns.search.labelled_events import choose_event_points


def covered_windows(windows, spans):
    """The (span, window) pairs where a span covers a window by the rule above.

    Args:
        windows: pandas DataFrame with path, start, end and row (the window's row in the index).
        spans: pandas DataFrame of labels with path, start and end (no NaN).

    Returns:
        pandas DataFrame: the spans' columns, and the window's as `start_w`, `end_w` and `row`.

    Example:
    ```python
    covered_windows(index.windows.assign(row=range(len(index.windows))), spans).row.unique()
    ```
    """
    merged = spans.merge(windows, on="path", suffixes=("", "_w"))
    overlap = np.minimum(merged.end, merged.end_w) - np.maximum(merged.start, merged.start_w)
    shorter = np.minimum(merged.end - merged.start, merged.end_w - merged.start_w)
    return merged[overlap >= 0.5 * shorter]


def _span_examples(windows, spans):
    """`{window row: any positive}` for the windows the spans of one class cover."""
    return covered_windows(windows, spans).groupby("row")["positive"].any()


def index_labels(index, annotations=None, *, resolve=True, which="model"):
    """The labels to evaluate on, uncertain ones left out: the index's own, or a label file's matched to it.

    Args:
        index: `keras_panns.Index`.
        annotations: pandas DataFrame (a label file read with `read_label_file`) or None: the index's own labels.
        resolve: bool. Match the file's classes and paths to the index (False: they are the index's already).
        which: str. `model`: labels of the model's classes; `own`: of your own classes (a head's).

    Returns:
        pandas DataFrame of labels (path, start, end, label, label_type), paths the index's.

    Raises:
        ArchiveError: no positive or negative labels. UnknownLabelError: a class the model does not have.

    Example:
    ```python
    labels = index_labels(index, read_label_file("test_labels.csv"))
    ```
    """
    if annotations is None:
        annotations = Annotations(index.path, index.labels).read(which)
    elif resolve:
        annotations, _, _ = resolve_labels(
            annotations, index.labels, index.files.path, "the labels", own_classes=which == "own"
        )
    annotations = annotations[annotations.label_type != "uncertain"]
    if annotations.empty:
        own = " of your own classes" if which == "own" else ""
        raise ArchiveError(
            f"{index.path} holds no positive or negative labels{own}; add some with keras-panns label"
            + (" --own_classes" if which == "own" else "")
        )
    return annotations


def labelled_examples(index, annotations=None, *, scores=None, classes=None):
    """Per class, the scores of its labelled examples and whether each is positive.

    Args:
        index: `keras_panns.Index` with scores (`--outputs scores`).
        annotations: pandas DataFrame or None (the index's annotations table).
        scores: float array `(windows, classes)` or None: the index's scores. A head's (`Index.head_scores`)
            with its `classes`; then `annotations` are its labels (`index_labels(..., which="own")`).
        classes: sequence of str or None: the model's. The columns of `scores`.

    Returns:
        dict class name -> `(scores float32 (n,), truth bool (n,))`, classes in the columns' order.

    Raises:
        ArchiveError: the index holds no scores (the message names `--outputs scores`) or no labels.

    Example:
    ```python
    scores, truth = labelled_examples(index)["Dog"]
    ```
    """
    if scores is None:
        if "scores" not in index.outputs:
            raise ArchiveError(
                f"{index.path} holds no per-class scores; index again with --outputs scores (and tags, embeddings "
                "as you wish) to calibrate on it"
            )
        annotations = index_labels(index, annotations, resolve=False)
        scores, classes = index.scores(), index.labels
    labels = list(classes)
    windows = index.windows[["path", "start", "end"]].assign(row=np.arange(len(index.windows)))
    examples = {}
    for name, group in annotations.groupby("label", sort=False):
        if name not in labels:  # another head's class
            continue
        column = labels.index(name)
        group = group.assign(positive=group.label_type == "positive")
        rows, truth = [], []
        spans = group[group.start.notna() & group.end.notna()]
        if len(spans):
            covered = _span_examples(windows, spans)
            rows.append(scores[covered.index.to_numpy(), column])
            truth.append(covered.to_numpy())
        clips = group[group.start.isna() | group.end.isna()]
        if len(clips):
            by_file = clips.groupby("path")["positive"].any()
            best = windows.assign(score=scores[:, column]).groupby("path")["score"].max()
            present = by_file[by_file.index.isin(best.index)]
            rows.append(best.loc[present.index].to_numpy(np.float32))
            truth.append(present.to_numpy())
        if rows:
            examples[name] = (np.concatenate(rows).astype(np.float32), np.concatenate(truth).astype(bool))
    return {name: examples[name] for name in labels if name in examples}


def calibrate_index(
    index, target, *, min_labels=MIN_LABELS, folds=5, default_threshold=0.5, progress=None, framewise=None
):
    """Operating points for every class with enough labels in `index`, for `index`'s model.

    Args:
        index: `keras_panns.Index` with scores and annotations.
        target: str. `precision=P`, `recall=R` or `f1`.
        min_labels: int. Fewest positives and fewest negatives a class needs; others keep the default.
        folds: int. Cross-validation folds.
        default_threshold: float. The threshold of classes without a point.
        progress: callable(done, total) or None.
        framewise: callable(paths) -> dict, or None. The framewise scores of the files with span labels
            (`labelled_events.framewise_scores`): the event points' lows are chosen too, not the index's.

    Returns:
        `keras_panns.decisions.OperatingPoints`, its model the index's. With events in the index and span
        labels, each class also gets an event high (`labelled_events.choose_event_points`, at least
        `min_labels` labelled events), and with `framewise` an event low.

    Raises:
        ArchiveError: no scores or labels in the index. ValueError: a bad target.

    Example:
    ```python
    points = calibrate_index(index, "recall=0.8", min_labels=10)
    ```
    """
    parsed = parse_target(target)
    annotations = Annotations(index.path, index.labels).read("model")
    examples = labelled_examples(index, annotations)
    classes, too_few = {}, []
    for done, (name, (scores, truth)) in enumerate(examples.items(), start=1):
        if truth.sum() < max(2, min_labels) or (~truth).sum() < max(2, min_labels):
            too_few.append(name)
        else:
            classes[name] = choose_point(scores, truth, parsed, folds=folds)
        if progress is not None:
            progress(done, len(examples))
    too_few_events = []
    spans = annotations[annotations.start.notna() & annotations.end.notna()]
    if "events" in index.outputs and classes and not spans.empty:
        paths = sorted(set(spans.path) & set(index.files.path))
        events, too_few_events = choose_event_points(
            index,
            annotations[annotations.label_type != "uncertain"],
            list(classes),
            min_events=min_labels,
            folds=folds,
            framewise=framewise(paths) if framewise is not None else None,
        )
        for name, point in events.items():
            classes[name]["events"] = point
    return OperatingPoints(
        model=index_fingerprint(index.manifest),
        target=target,
        classes=classes,
        default_threshold=default_threshold,
        too_few_labels=too_few,
        too_few_events=too_few_events,
    )


def _bootstrap(predicted, truth, resamples, seed):
    """95% percentile intervals of precision, recall and F1 over `resamples` bootstrap resamples.

    Resampling n examples with replacement draws their (TP, FP, FN, TN) counts from a multinomial with the
    sample's own proportions: the same distribution as resampling the examples, in memory that does not grow
    with n (a `(resamples, n)` matrix of picks is 800 MB for one class with 100,000 labels).
    """
    rng = np.random.default_rng(seed)
    cells = np.array([predicted & truth, predicted & ~truth, ~predicted & truth, ~predicted & ~truth]).sum(axis=1)
    draws = rng.multinomial(len(truth), cells / len(truth), size=resamples)
    tp, positives, predictions = draws[:, 0], draws[:, 0] + draws[:, 2], draws[:, 0] + draws[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predictions > 0, tp / np.maximum(predictions, 1), np.nan)
        recall = np.where(positives > 0, tp / np.maximum(positives, 1), np.nan)
        f1 = np.where(predictions + positives > 0, 2 * tp / np.maximum(predictions + positives, 1), np.nan)

    def interval(values):
        values = values[np.isfinite(values)]
        return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) else None

    return interval(precision), interval(recall), interval(f1)


def evaluate_index(index, annotations=None, points=None, default_threshold=0.5, resamples=1000, seed=0, head=None):
    """Per-class AP, ROC-AUC, and precision, recall and F1 at the operating points, on labelled windows.

    Args:
        index: `keras_panns.Index` with scores.
        annotations: pandas DataFrame (a label file read with `read_label_file`) or None: the index's own labels.
            Points chosen by `calibrate` on the same labels score better here than on new audio: evaluate
            on labels kept aside (`--labels FILE`), or read `calibrate`'s held-out figures.
        points: `OperatingPoints` or None (every class at `default_threshold`).
        default_threshold: float. The threshold without points.
        resamples: int. Bootstrap resamples for the intervals.
        seed: int.
        head: str or None. A head applied to the index (`Index.heads`): its classes' scores on the labels of
            your own classes, at the points on its card (`default_threshold` for a class without one).

    Returns:
        list of dict, one per labelled class in the model's (or the head's) order: name, positives, negatives,
        ap, roc_auc (None with a single label value), threshold, precision, recall, f1 and their `_ci` intervals.

    Raises:
        ArchiveError: no scores or labels; a model or head that is not the index's; points and a head together.

    Example:
    ```python
    records = evaluate_index(index, points=OperatingPoints.load("points.json", model=index.manifest))
    ```
    """
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

    if points is not None:
        if head is not None:
            raise ArchiveError("a head's classes take the points on its card: give operating points or a head")
        points.check_model(index.manifest)
    if head is not None:
        record = index.head_record(head)
        own = index_labels(index, annotations, which="own")
        examples = labelled_examples(index, own, scores=index.head_scores(head), classes=record["classes"])
        if not examples:
            raise ArchiveError(f"no label of head {head!r}'s classes ({', '.join(record['classes'])}) in the labels")
        chosen = {name: record["card"]["classes"][name].get("point") for name in record["classes"]}
        bars = {name: point["threshold"] if point else default_threshold for name, point in chosen.items()}
    else:
        if annotations is not None:
            annotations = index_labels(index, annotations)
        examples = labelled_examples(index, annotations)
        thresholds = points.thresholds(index.labels) if points is not None else None
        bars = {
            name: float(thresholds[index.labels.index(name)]) if thresholds is not None else default_threshold
            for name in examples
        }
    records = []
    for name, (scores, truth) in examples.items():
        threshold = float(bars[name])
        predicted = scores >= threshold
        both = 0 < truth.sum() < len(truth)
        precision_ci, recall_ci, f1_ci = _bootstrap(predicted, truth, resamples, seed)
        records.append(
            {
                "name": name,
                "positives": int(truth.sum()),
                "negatives": int((~truth).sum()),
                "ap": float(average_precision_score(truth, scores)) if truth.any() else None,
                "roc_auc": float(roc_auc_score(truth, scores)) if both else None,
                "threshold": threshold,
                "precision": float(precision_score(truth, predicted, zero_division=0)),
                "recall": float(recall_score(truth, predicted, zero_division=0)),
                "f1": float(f1_score(truth, predicted, zero_division=0)),
                "precision_ci": precision_ci,
                "recall_ci": recall_ci,
                "f1_ci": f1_ci,
            }
        )
    return records
