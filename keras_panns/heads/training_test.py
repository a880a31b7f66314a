"""Heads on embeddings: the loss against Keras' own, held-out AP beside scikit-learn's LogisticRegression."""

import keras
import numpy as np
import pytest

from keras_panns.heads.training import (
    MaskedBinaryCrossentropy,
    WeakNegatives,
    build_head,
    cross_validate_head,
    fit_head,
    pack_targets,
    positive_weights,
)


def _clusters(seed=0, groups=60, per_group=10, dims=32, classes=3):
    """Windows of `groups` files; each file holds one class (its windows near that class's centre) or none."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, size=(classes, dims))
    x, y, g = [], [], []
    for group in range(groups):
        label = group % (classes + 1)  # the last: no class
        for _ in range(per_group):
            centre = centres[label] if label < classes else np.zeros(dims)
            x.append(centre + rng.normal(0, 1.2, dims))
            y.append(np.eye(classes)[label] if label < classes else np.zeros(classes))
            g.append(group)
    return np.asarray(x, np.float32), np.asarray(y, np.float32), np.asarray(g)


def test_the_loss_is_keras_binary_crossentropy_per_class_weighted():
    rng = np.random.default_rng(1)
    targets = (rng.random((8, 3)) > 0.5).astype("float32")
    scores = rng.uniform(0.05, 0.95, (8, 3)).astype("float32")
    loss = MaskedBinaryCrossentropy(reduction=None)
    per_class = keras.losses.binary_crossentropy(targets[..., None], scores[..., None], axis=-1)
    full = np.asarray(loss(pack_targets(targets, np.ones_like(targets)), scores))
    np.testing.assert_allclose(full, np.asarray(per_class).sum(axis=1), rtol=1e-5)
    weights = rng.random((8, 3)).astype("float32")
    weighted = np.asarray(loss(pack_targets(targets, weights), scores))
    np.testing.assert_allclose(weighted, (np.asarray(per_class) * weights).sum(axis=1), rtol=1e-5)


def test_positives_weigh_as_much_as_negatives():
    targets = np.array([[1, 0], [0, 0], [0, 0], [0, 1]], np.float32)
    labelled = np.array([[1, 1], [1, 1], [1, 0], [1, 1]], bool)
    np.testing.assert_allclose(positive_weights(targets, labelled), [3.0, 2.0])
    np.testing.assert_allclose(positive_weights(targets, labelled, weak_negatives=100, weak_weight=0.05), [8.0, 7.0])


def test_the_held_out_ap_is_that_of_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import GroupKFold

    x, y, groups = _clusters()
    labelled = np.ones_like(y, bool)
    _, records = cross_validate_head(x, y, labelled, groups, folds=5, epochs=60, batch_size=64, learning_rate=1e-2)
    for c, record in enumerate(records):
        reference = np.zeros(len(x))
        for train, test in GroupKFold(n_splits=5).split(x, groups=groups):
            model = LogisticRegression(class_weight="balanced", max_iter=2000).fit(x[train], y[train, c])
            reference[test] = model.predict_proba(x[test])[:, 1]
        want = average_precision_score(y[:, c], reference)
        assert record["positives"] == 150 and record["negatives"] == 450
        assert abs(record["ap"] - want) <= 0.05, (c, record["ap"], want)
        assert record["ap"] > 0.8


def test_weak_negatives_lower_the_scores_of_what_no_label_covers():
    x, y, _ = _clusters(seed=2, groups=24)
    rng = np.random.default_rng(3)
    background = rng.normal(0, 1.2, size=(20_000, x.shape[1])).astype("float32")  # windows of no class
    labelled = y > 0.5  # each window labelled for its own class only, as search-and-label gives
    means = {}
    for name, weak in (("without", None), ("with", WeakNegatives.from_array(background, block=4096))):
        keras.utils.set_random_seed(0)
        head = build_head(x.shape[1], ["a", "b", "c"])
        fit_head(head, x, y, labelled, weak, epochs=80, batch_size=128, learning_rate=1e-2)
        means[name] = float(np.asarray(head.predict(background[:2000], verbose=0)).mean())
        assert np.asarray(head.predict(x, verbose=0))[labelled].mean() > 0.95  # the positives stay found
    # Positives alone teach every class to say yes (0.55 here); weak negatives halve that (0.24).
    assert means["with"] < 0.35 < 0.45 < means["without"]


def test_a_head_round_trips_through_keras_files(tmp_path):
    x, y, _ = _clusters(groups=8)
    head = build_head(x.shape[1], ["a", "b", "c"], hidden_units=16, dropout=0.1)
    fit_head(head, x, y, np.ones_like(y, bool), epochs=2, batch_size=32)
    head.save(tmp_path / "head.keras")
    again = keras.saving.load_model(tmp_path / "head.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), head.predict(x, verbose=0), atol=1e-6)
    assert isinstance(again.loss, MaskedBinaryCrossentropy)
    with pytest.raises(ValueError, match="distinct classes"):
        build_head(8, ["a", "a"])


def test_the_weak_stream_cycles_in_blocks():
    weak = WeakNegatives.from_array(np.arange(10, dtype="float32")[:, None], block=4)
    first = weak.take(10)
    assert sorted(first[:, 0]) == list(range(10))
    assert weak.take(25).shape == (25, 1)
    with pytest.raises(ValueError, match="empty"):
        WeakNegatives.from_array(np.zeros((0, 3), "float32")).take(1)
