"""Event-based metrics of detected events against strong labels, computed by sed_scores_eval.

Everything here hands the counting to sed_scores_eval (Ebbers et al., ICASSP
2022): PSDS in DCASE's two scenarios, collar-based event F1 and segment F1,
and the collar-based F1-optimal threshold per class. This module only lays our
data out as that library takes it:

- **Scores** (`score_tables`): sed_scores_eval evaluates a score per time
  segment and class at every threshold. Events from our detector carry their
  peak score, and the events a higher `high` keeps are exactly those whose
  peak reaches it (the runs above `low` do not depend on `high`). So a table
  where each segment scores the best peak of the events covering it,
  thresholded at `t`, gives the detector's events at `high = t`: every
  threshold at or above the `high` the events were detected with is
  evaluated exactly, with no re-run of the model.
- **Ground truth** (`ground_truth`): positive spans per file, overlapping or
  touching spans of one class merged into one event (sed_scores_eval and
  psds_eval refuse overlapping events of a class).
- **Which files count**: a file with any span label is taken as annotated in
  full for every class evaluated, so an event of those classes outside its
  positive spans is a false detection (DCASE's convention).

Checked against psds_eval's published DCASE 2019 example
(`event_metrics_test.py`).

Example:
```python
tables = score_tables(events, durations, classes)
truth = ground_truth(annotations, classes, durations)
psds(tables, truth, durations, scenario=1)
```
"""

import numpy as np

#: DCASE's PSDS scenarios (task 4 since 2021): 1 asks for precise boundaries, 2 for the right class, across classes.
SCENARIOS = {
    1: {"dtc_threshold": 0.7, "gtc_threshold": 0.7, "cttc_threshold": None, "alpha_ct": 0.0, "alpha_st": 1.0},
    2: {"dtc_threshold": 0.1, "gtc_threshold": 0.1, "cttc_threshold": 0.3, "alpha_ct": 0.5, "alpha_st": 1.0},
}
#: The eFPR range PSDS integrates over, per hour (DCASE's 100).
MAX_EFPR = 100.0
#: DCASE's collar-based F1: onsets within 200 ms, offsets within 200 ms or 20% of the event's length.
COLLARS = {"onset_collar": 0.2, "offset_collar": 0.2, "offset_collar_rate": 0.2}
#: Segment-based F1 on 1-s segments (sed_eval's and DCASE's default).
SEGMENT_SECONDS = 1.0


def _sed_scores_eval():
    """sed_scores_eval, its scores handed to its Cython code writable.

    sed_scores_eval 0.0.4 (the latest release) passes `DataFrame.to_numpy()` to a Cython function that takes
    a writable buffer; under pandas 3's copy-on-write that array is a read-only view, and every metric fails
    with "buffer source array is read-only". Fixed upstream (fgnt/sed_scores_eval#17), not yet released:
    until then the arrays are copied when read-only. Canary: `event_metrics_test.py`.
    """
    import warnings

    with warnings.catch_warnings():  # dcase_util (through sed_eval) imports pkg_resources, deprecated: not ours
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from sed_scores_eval.base_modules import statistics

    curves = statistics.onset_offset_curves
    if not getattr(curves, "keras_panns_writable", False):

        def writable_curves(scores, *args, **kwargs):
            scores = scores if scores.flags.writeable else np.array(scores)
            return curves(scores, *args, **kwargs)

        writable_curves.keras_panns_writable = True
        writable_curves.original = curves
        statistics.onset_offset_curves = writable_curves
    import sed_scores_eval

    return sed_scores_eval


def merge_spans(spans):
    """Merges overlapping or touching `(onset, offset)` spans.

    Args:
        spans: iterable of `(onset, offset)`.

    Returns:
        list of `(onset, offset)`, sorted and disjoint.

    Example:
    ```python
    merge_spans([(3.0, 4.5), (1.0, 2.0), (4.0, 5.0)])  # [(1.0, 2.0), (3.0, 5.0)]
    ```
    """
    merged = []
    for onset, offset in sorted((float(a), float(b)) for a, b in spans):
        if merged and onset <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], offset))
        else:
            merged.append((onset, offset))
    return merged


def ground_truth(spans, classes, durations):
    """Each file's positive events of `classes`, as sed_scores_eval takes them.

    Args:
        spans: pandas DataFrame with path, start, end and label (positive spans only).
        classes: sequence of str. The classes evaluated; other labels are left out.
        durations: dict path -> seconds. The files evaluated (each gets a list, maybe empty); spans are cut to
            the file's duration.

    Returns:
        dict path -> list of `(onset, offset, label)`, spans of a class merged.

    Example:
    ```python
    truth = ground_truth(spans, ["Dog"], {"a.wav": 10.0})  # {'a.wav': [(1.0, 2.5, 'Dog')]}
    ```
    """
    wanted = set(classes)
    truth = {path: [] for path in durations}
    rows = spans[spans.label.isin(wanted) & spans.path.isin(list(durations))]
    for (path, label), group in rows.groupby(["path", "label"], sort=True):
        end = float(durations[path])
        for onset, offset in merge_spans(zip(group.start, group.end)):
            onset, offset = max(onset, 0.0), min(offset, end)
            if offset > onset:
                truth[path].append((onset, offset, label))
    return {path: sorted(events) for path, events in truth.items()}


def score_tables(events, durations, classes):
    """Each file's score table: per time segment and class, the best peak of the events covering it.

    Args:
        events: pandas DataFrame with path, label, onset, offset and score (our detector's events).
        durations: dict path -> seconds. The files evaluated; a file without events scores 0 throughout.
        classes: sequence of str. The classes (columns) evaluated.

    Returns:
        dict path -> sed_scores_eval score DataFrame (onset, offset, one column per class).

    Example:
    ```python
    tables = score_tables(index.events, {"a.wav": 10.0}, ["Dog"])
    ```
    """
    create_score_dataframe = _sed_scores_eval().base_modules.scores.create_score_dataframe
    column = {name: i for i, name in enumerate(classes)}
    kept = events[events.label.isin(list(column)) & events.path.isin(list(durations))]
    grouped = dict(tuple(kept.groupby("path", sort=False)))
    tables = {}
    for path, duration in durations.items():
        duration = float(duration)
        mine = grouped.get(path)
        if mine is None or mine.empty:
            bounds = np.array([0.0, duration])
            tables[path] = create_score_dataframe(np.zeros((1, len(classes))), bounds, list(classes))
            continue
        onsets = np.maximum(mine.onset.to_numpy(np.float64), 0.0)
        offsets = mine.offset.to_numpy(np.float64)
        # An event's last frame may end a few ms after the file: kept whole, as psds_eval keeps it.
        bounds = np.unique(np.concatenate([[0.0, max(duration, offsets.max())], onsets, offsets]))
        scores = np.zeros((len(bounds) - 1, len(classes)))
        first, last = np.searchsorted(bounds, onsets), np.searchsorted(bounds, offsets)
        for a, b, label, score in zip(first, last, mine.label, mine.score.to_numpy(np.float64)):
            c = column[label]
            np.maximum(scores[a:b, c], score, out=scores[a:b, c])
        tables[path] = create_score_dataframe(scores, bounds, list(classes))
    return tables


def psds(tables, truth, durations, scenario):
    """PSDS of the score tables in one of DCASE's scenarios (`SCENARIOS`), over every threshold.

    Args:
        tables: from `score_tables`.
        truth: from `ground_truth`.
        durations: dict path -> seconds.
        scenario: 1 or 2 (`SCENARIOS`), or a dict of the same criteria. With one class there are no cross
            triggers: scenario 2 drops its cttc (sed_scores_eval fails on it).

    Returns:
        float in [0, 1].

    Example:
    ```python
    psds(tables, truth, durations, scenario=1)  # 0.41
    ```
    """
    intersection_based = _sed_scores_eval().intersection_based
    criteria = dict(scenario if isinstance(scenario, dict) else SCENARIOS[scenario])
    if len(next(iter(tables.values())).columns) - 2 < 2:  # onset, offset and one class: nothing to cross-trigger
        criteria.update(cttc_threshold=None, alpha_ct=0.0)
    value, *_ = intersection_based.psds(tables, truth, durations, **criteria, unit_of_time="hour", max_efpr=MAX_EFPR)
    return float(value)


def _split_by_truth(tables, truth, classes):
    """`(tables of the classes with ground truth, those classes, the others)`: sed_scores_eval refuses a class
    without a ground-truth event (a fold of a few files may hold none of a rare class)."""
    present = {label for events in truth.values() for *_, label in events}
    kept = [name for name in classes if name in present]
    if len(kept) == len(classes):
        return tables, kept, []
    return (
        {path: table[["onset", "offset", *kept]] for path, table in tables.items()},
        kept,
        [name for name in classes if name not in present],
    )


def _runs_over(tables, name, threshold, segment=None):
    """Detections of `name` at `threshold` in the tables: the runs of segments at or over it, or with `segment`
    (seconds) the segments of that length a run touches."""
    count = 0
    for table in tables.values():
        on = table[name].to_numpy() >= threshold
        onsets, offsets = table["onset"].to_numpy()[on], table["offset"].to_numpy()[on]
        if segment is None:
            count += int(on.sum() - (on[1:] & on[:-1]).sum())
        else:
            touched = set()
            for a, b in zip(onsets, offsets):
                touched.update(range(int(a // segment), int(np.ceil(b / segment))))
            count += len(touched)
    return count


def _without_truth(tables, names, thresholds, segment=None):
    """Records of classes without ground truth here: every detection is false."""
    return {
        name: {
            "f1": 0.0,
            "precision": 0.0,
            "recall": 0.0,
            "tps": 0,
            "fps": _runs_over(tables, name, thresholds[name], segment),
            "n_ref": 0,
        }
        for name in names
    }


def collar_scores(tables, truth, thresholds):
    """Collar-based event F1, precision and recall per class at per-class thresholds (`COLLARS`).

    Args:
        tables: from `score_tables`.
        truth: from `ground_truth`.
        thresholds: dict class -> float (a `high`).

    Returns:
        dict class -> {"f1", "precision", "recall", "tps", "fps", "n_ref"}.

    Example:
    ```python
    collar_scores(tables, truth, {"Dog": 0.42})["Dog"]["f1"]
    ```
    """
    collar_based = _sed_scores_eval().collar_based
    evaluated, kept, missing = _split_by_truth(tables, truth, list(thresholds))
    records = _without_truth(tables, missing, thresholds)
    if kept:
        f, p, r, stats = collar_based.fscore(evaluated, truth, {c: thresholds[c] for c in kept}, **COLLARS)
        records.update(_records(f, p, r, stats, kept))
    return {name: records[name] for name in thresholds}


def segment_scores(tables, truth, durations, thresholds):
    """Segment-based F1, precision and recall per class on `SEGMENT_SECONDS` segments, at per-class thresholds.

    Args:
        tables: from `score_tables`.
        truth: from `ground_truth`.
        durations: dict path -> seconds.
        thresholds: dict class -> float.

    Returns:
        dict class -> {"f1", "precision", "recall", "tps", "fps", "n_ref"}.

    Example:
    ```python
    segment_scores(tables, truth, durations, {"Dog": 0.42})["Dog"]["f1"]
    ```
    """
    segment_based = _sed_scores_eval().segment_based
    evaluated, kept, missing = _split_by_truth(tables, truth, list(thresholds))
    records = _without_truth(tables, missing, thresholds, SEGMENT_SECONDS)
    if kept:
        chosen = {c: thresholds[c] for c in kept}
        f, p, r, stats = segment_based.fscore(evaluated, truth, durations, chosen, segment_length=SEGMENT_SECONDS)
        records.update(_records(f, p, r, stats, kept))
    return {name: records[name] for name in thresholds}


def _records(f, p, r, stats, classes):
    return {
        name: {
            "f1": float(f[name]),
            "precision": float(p[name]),
            "recall": float(r[name]),
            "tps": int(stats[name]["tps"]),
            "fps": int(stats[name]["fps"]),
            "n_ref": int(stats[name]["n_ref"]),
        }
        for name in classes
    }


def best_collar_thresholds(tables, truth, classes):
    """Per class, the threshold with the best collar-based F1 (`COLLARS`), and that F1.

    The threshold lies halfway between the two scores it separates, as sed_scores_eval places it.

    Args:
        tables: from `score_tables`.
        truth: from `ground_truth`.
        classes: sequence of str.

    Returns:
        dict class -> `(threshold, f1)`; the threshold is inf where no threshold finds an event (and for a
        class without ground-truth events in these files).

    Example:
    ```python
    best_collar_thresholds(tables, truth, ["Dog"])  # {'Dog': (0.47, 0.8)}
    ```
    """
    collar_based = _sed_scores_eval().collar_based
    columns = list(next(iter(tables.values())).columns[2:])
    evaluated, kept, _ = _split_by_truth(tables, truth, columns)
    best = dict.fromkeys(columns, (float("inf"), 0.0))  # no ground truth: detecting nothing is best
    if kept:
        f, _, _, thresholds, _ = collar_based.best_fscore(evaluated, truth, **COLLARS)
        best.update({name: (float(thresholds[name]), float(f[name])) for name in kept})
    return {name: best[name] for name in classes}
