import warnings

import numpy as np
import pytest
from sklearn import metrics as sk

from keras_panns.training.metrics import audioset_metrics, average_precision, d_prime, roc_auc


def _cases():
    rng = np.random.RandomState(0)
    yield "random", (rng.rand(300, 12) < 0.2).astype(np.float32), rng.rand(300, 12).astype(np.float32)
    # Adversarial: heavy ties (scores rounded to a few levels), constant scores, perfect and inverted classes.
    target = (rng.rand(200, 6) < 0.3).astype(np.float32)
    scores = np.round(rng.rand(200, 6), 1)
    scores[:, 1] = 0.5
    scores[:, 2] = target[:, 2]
    scores[:, 3] = 1 - target[:, 3]
    yield "ties", target, scores
    target = np.zeros((50, 3), np.float32)
    target[::7, 0] = 1
    target[0, 1] = 1
    yield "rare", target, rng.rand(50, 3)


@pytest.mark.parametrize("name,target,scores", list(_cases()))
def test_metrics_equal_sklearn(name, target, scores):
    for c in range(target.shape[1]):
        assert average_precision(target[:, c], scores[:, c]) == pytest.approx(
            sk.average_precision_score(target[:, c], scores[:, c]), abs=1e-9
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns, then gives NaN, for a class without positives
            expected_auc = sk.roc_auc_score(target[:, c], scores[:, c])
        assert roc_auc(target[:, c], scores[:, c]) == pytest.approx(expected_auc, abs=1e-9, nan_ok=True)
    m = audioset_metrics(target, scores)
    assert m.mAP == pytest.approx(np.mean(sk.average_precision_score(target, scores, average=None)), abs=1e-9)


def test_classes_without_positives_follow_sklearn():
    import warnings

    target = np.zeros((20, 2), np.float32)
    target[:5, 0] = 1
    scores = np.random.RandomState(1).rand(20, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sk.average_precision_score(target[:, 1], scores[:, 1])
    m = audioset_metrics(target, scores)
    assert m.average_precision[1] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(m.auc[1]) and m.mAUC == pytest.approx(sk.roc_auc_score(target[:, 0], scores[:, 0]))
    assert m.d_prime == pytest.approx(np.sqrt(2) * __import__("scipy").stats.norm.ppf(m.mAUC))
    assert d_prime(0.5) == pytest.approx(0.0)


def test_report_names_best_and_worst(tmp_path):
    target = np.eye(4)[np.arange(40) % 4]
    scores = target * np.array([1.0, 0.8, 0.0, 0.0]) + np.random.RandomState(0).rand(40, 4) * 0.5
    m = audioset_metrics(target, scores)
    best, worst = m.ranked(list("abcd"), k=1)
    assert best[0][0] == "a" and worst[0][0] in ("c", "d")
    m.to_csv(tmp_path / "report.csv", list("abcd"))
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0] == "index,label,positives,average_precision,auc" and rows[1].startswith("0,a,10,")
