"""AudioSet metrics exactly as PANNs computes them: mAP, mean AUC and d-prime.

PANNs calls `sklearn.metrics.average_precision_score(target, output,
average=None)` and `roc_auc_score(...)`, then averages over classes. These
NumPy versions give the same numbers (tested against scikit-learn to 1e-9)
without the dependency. Keras' binned `AUC(curve="PR")` approximates AP with
a fixed threshold grid and is not the same metric.
"""

import csv
import dataclasses

import numpy as np

from keras_panns.atomic import atomic_write


def _ranked(scores, positives):
    """Cumulative true/false positives at each distinct score, highest first."""
    order = np.argsort(-scores, kind="mergesort")
    scores, positives = scores[order], positives[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(positives)[last_of_tie]
    fps = (1 + last_of_tie) - tps
    return tps, fps


def average_precision(target, scores):
    """sklearn's `average_precision_score` for one class (0.0 when there is no positive)."""
    positives = np.asarray(target) > 0.5
    tps, fps = _ranked(np.asarray(scores, np.float64), positives.astype(np.float64))
    if tps[-1] == 0:
        return 0.0  # sklearn: recall is set to one, and the sum collapses to the top precision, 0
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(target, scores):
    """Area under the ROC curve for one class (ties count one half); NaN if only one label value occurs."""
    from scipy.stats import rankdata

    positives = np.asarray(target) > 0.5
    n_pos = int(positives.sum())
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, np.float64))
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def d_prime(auc):
    """PANNs' d' from an AUC: sqrt(2) * Phi^-1(AUC)."""
    from scipy.stats import norm

    return float(np.sqrt(2.0) * norm.ppf(auc))


@dataclasses.dataclass
class AudioSetMetrics:
    """Per-class AP/AUC and their means.

    Attributes:
        average_precision: float array `(classes,)`.
        auc: float array `(classes,)`, NaN where a class has no positive or no negative.
        positives: int array `(classes,)`.
        mAP: float. Mean AP over all classes (PANNs' headline number).
        mAUC: float. Mean AUC over classes where it is defined.
        d_prime: float. From the mean AUC.

    Example:
    ```python
    metrics = audioset_metrics(targets, scores)
    best, worst = metrics.ranked(keras_panns.audioset_labels())
    metrics.to_csv("per_class.csv", keras_panns.audioset_labels())
    ```
    """

    average_precision: np.ndarray
    auc: np.ndarray
    positives: np.ndarray
    mAP: float
    mAUC: float
    d_prime: float

    def summary(self):
        return f"mAP {self.mAP:.4f}, mean AUC {self.mAUC:.4f}, d' {self.d_prime:.3f}"

    def ranked(self, labels, k=5):
        """The `k` best and `k` worst classes by AP, as `(label, AP)` lists.

        Args:
            labels: list of class names.
            k: int.

        Returns:
            `(best, worst)`, each a list of `(str, float)`.

        Example:
        ```python
        best, worst = metrics.ranked(labels, k=3)  # best[0]: ('Speech', 0.79)
        ```
        """
        order = np.argsort(-self.average_precision, kind="stable")
        pick = lambda idx: [(labels[i], float(self.average_precision[i])) for i in idx]  # noqa: E731
        return pick(order[:k]), pick(order[::-1][:k])

    def to_csv(self, path, labels):
        """Writes one row per class (index, label, positives, AP, AUC), best AP first, atomically.

        Args:
            path: str or path-like.
            labels: list of class names.

        Example:
        ```python
        metrics.to_csv("reports/per_class.csv", keras_panns.audioset_labels())
        ```
        """
        order = np.argsort(-self.average_precision, kind="stable")
        with atomic_write(path, newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["index", "label", "positives", "average_precision", "auc"])
            for i in order:
                writer.writerow(
                    [
                        i,
                        labels[i],
                        int(self.positives[i]),
                        f"{self.average_precision[i]:.6f}",
                        "" if np.isnan(self.auc[i]) else f"{self.auc[i]:.6f}",
                    ]
                )


def audioset_metrics(target, scores):
    """mAP, mean AUC and d' of scores `(examples, classes)` against multi-hot targets.

    Args:
        target: 0/1 array `(examples, classes)`.
        scores: float array `(examples, classes)`.

    Returns:
        `AudioSetMetrics`.

    Raises:
        ValueError: the arrays are not both `(examples, classes)` of one shape.

    Example:
    ```python
    m = audioset_metrics(targets, model.predict(waveforms)["clipwise_output"])
    print(m.summary())
    ```
    """
    target, scores = np.asarray(target), np.asarray(scores)
    if target.shape != scores.shape or target.ndim != 2:
        raise ValueError(f"target and scores must both be (examples, classes), got {target.shape}, {scores.shape}")
    ap = np.array([average_precision(target[:, c], scores[:, c]) for c in range(target.shape[1])])
    auc = np.array([roc_auc(target[:, c], scores[:, c]) for c in range(target.shape[1])])
    mean_auc = float(np.nanmean(auc)) if np.any(~np.isnan(auc)) else float("nan")
    return AudioSetMetrics(
        ap,
        auc,
        (target > 0.5).sum(axis=0),
        float(ap.mean()),
        mean_auc,
        d_prime(mean_auc) if not np.isnan(mean_auc) else float("nan"),
    )
