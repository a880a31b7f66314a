"""Choosing a class's operating point from labelled scores: a threshold for a target, and a calibration.

Curves come from scikit-learn (`precision_recall_curve`), folds from its
`StratifiedKFold`, the calibration from its `LogisticRegression` on the
score's logit (Platt scaling), and the 95% intervals from SciPy's Wilson
interval (`binomtest(...).proportion_ci`). Nothing here draws its own curve.

The threshold is chosen on all the labels; how well it does on audio it was
not chosen on is measured by cross-validation: on each fold a threshold is
chosen on the other folds and applied to this one, and the held-out counts
of every fold are pooled into one precision and one recall.

Calibrated scores are probabilities on the labelled windows' own mix of
positives and negatives; labels chosen by review strategy (top scores, score
bins) are not a random sample of the archive, so read them as "how sure,
among windows like these".

Example:
```python
point = choose_point(scores, truth, parse_target("precision=0.9"))
point["threshold"], point["held_out"]["precision"]
```
"""

import numpy as np

from keras_panns.decisions import logit

#: Fewest positives and negatives a class needs before a point is chosen for it.
MIN_LABELS = 5


def parse_target(text):
    """`(kind, value)` from `precision=0.9`, `recall=0.8` or `f1`.

    Args:
        text: str. The target as `--target` takes it.

    Returns:
        `(kind, value)`: kind `"precision"`, `"recall"` or `"f1"`; value a float, None for f1.

    Raises:
        ValueError: any other text, or a value outside (0, 1].

    Example:
    ```python
    parse_target("precision=0.9")  # ('precision', 0.9)
    ```
    """
    text = str(text).strip().lower()
    if text == "f1":
        return "f1", None
    kind, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if kind not in ("precision", "recall") or number is None or not 0.0 < number <= 1.0:
        raise ValueError(f"target must be precision=P, recall=R (0 < P, R <= 1) or f1, got {text!r}")
    return kind, number


def threshold_for(scores, truth, target):
    """The threshold on `scores` that reaches `target` on `truth`, and whether it was reached.

    `precision=P`: the lowest threshold whose precision is at least P (the most recall at that precision);
    `recall=R`: the highest threshold whose recall is at least R (the most precision); `f1`: the best F1.
    A precision never reached gives the threshold of the best precision, flagged.

    Args:
        scores: float array `(n,)`.
        truth: bool array `(n,)`, both classes present.
        target: `(kind, value)` from `parse_target`.

    Returns:
        `(threshold, reached)`: float and bool.

    Example:
    ```python
    threshold_for(np.array([0.1, 0.4, 0.8]), np.array([0, 1, 1], bool), ("f1", None))  # (0.4, True)
    ```
    """
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(truth, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    kind, value = target
    if kind == "f1":
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        return float(thresholds[int(np.argmax(f1))]), True
    if kind == "precision":
        ok = np.flatnonzero(precision >= value)
        if not len(ok):
            return float(thresholds[int(np.argmax(precision))]), False
        best = ok[np.argmax(recall[ok])]  # thresholds ascend: the first of equal recall is the lowest
        return float(thresholds[best]), True
    ok = np.flatnonzero(recall >= value)
    return float(thresholds[ok[-1]]), True


def wilson(successes, trials):
    """The 95% Wilson interval of a proportion (SciPy's `binomtest(...).proportion_ci`).

    Args:
        successes: int.
        trials: int.

    Returns:
        `[low, high]`; `[0, 1]` with no trials.

    Example:
    ```python
    wilson(45, 50)  # [0.786..., 0.956...]
    ```
    """
    from scipy.stats import binomtest

    if trials == 0:
        return [0.0, 1.0]
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(interval.low), float(interval.high)]


def calibration_for(scores, truth):
    """`[a, b]` of `sigmoid(a * logit(score) + b)`, fitted by logistic regression on the labels.

    Args:
        scores: float array `(n,)` in (0, 1).
        truth: bool array `(n,)`, both values present.

    Returns:
        list of two floats, slope and offset.

    Example:
    ```python
    a, b = calibration_for(scores, truth)
    ```
    """
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e4, max_iter=1000).fit(logit(scores)[:, None], truth)
    return [float(fit.coef_[0, 0]), float(fit.intercept_[0])]


def choose_point(scores, truth, target, folds=5, seed=0):
    """One class's operating point: threshold, calibration, support and held-out precision and recall.

    Args:
        scores: float array `(n,)`, the class's scores on its labelled windows.
        truth: bool array `(n,)`.
        target: `(kind, value)` from `parse_target`.
        folds: int. Cross-validation folds (fewer when a class has fewer positives or negatives).
        seed: int. The folds' shuffle.

    Returns:
        dict: threshold, reached, calibration, support {positives, negatives}, held_out {folds, precision,
        precision_ci, recall, recall_ci, f1, tp, fp, fn}.

    Raises:
        ValueError: fewer than two positives or two negatives.

    Example:
    ```python
    choose_point(scores, truth, ("recall", 0.8))["held_out"]["recall_ci"]
    ```
    """
    from sklearn.model_selection import StratifiedKFold

    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth, bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    splits = min(folds, positives, negatives)
    if splits < 2:
        raise ValueError(f"{positives} positives and {negatives} negatives: too few to cross-validate")
    tp = fp = fn = 0
    for train, test in StratifiedKFold(splits, shuffle=True, random_state=seed).split(scores, truth):
        threshold, _ = threshold_for(scores[train], truth[train], target)
        predicted = scores[test] >= threshold
        tp += int(np.sum(predicted & truth[test]))
        fp += int(np.sum(predicted & ~truth[test]))
        fn += int(np.sum(~predicted & truth[test]))
    threshold, reached = threshold_for(scores, truth, target)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "threshold": threshold,
        "reached": reached,
        "calibration": calibration_for(scores, truth),
        "support": {"positives": positives, "negatives": negatives},
        "held_out": {
            "folds": splits,
            "precision": precision,
            "precision_ci": wilson(tp, tp + fp),
            "recall": recall,
            "recall_ci": wilson(tp, tp + fn),
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        },
    }
