"""Heads fitted with `model.fit` on stored embeddings: labelled windows, and unlabelled ones as weak negatives.

The loss is binary cross-entropy per class, weighted per window and class (`MaskedBinaryCrossentropy`):

- a labelled window counts for the classes it is labelled for (weight 0 for the others: a window labelled
  "Dog" says nothing about "Cuckoo");
- an unlabelled window is a negative of every class with the small weight `WEAK_NEGATIVE_WEIGHT`: in an
  archive most windows hold none of a rare class, so they say "no" cheaply and softly (perch-hoplite's
  agile modelling does the same);
- each class's positives are weighted to carry as much as its negatives (`positive_weights`), so a class
  with 20 positives among a million windows is not learned as "never".

Every batch is half labelled windows (each epoch goes through them once, shuffled) and half weak negatives
from a stream that cycles over the unlabelled windows (`WeakNegatives`): an index is read one Parquet part
at a time, so memory does not grow with the archive.

Example:
```python
head = build_head(2048, ["cuckoo", "blackbird"])
fit_head(head, embeddings, targets, labelled, WeakNegatives.from_array(unlabelled), epochs=50)
scores = head.predict(new_embeddings)
```
"""

import math

import keras
import numpy as np
from keras import ops

#: The weight of an unlabelled window as a negative of every class (a labelled window weighs 1).
WEAK_NEGATIVE_WEIGHT = 0.05
#: The most a positive may weigh against a negative when a class is balanced.
MAX_POSITIVE_WEIGHT = 1000.0
#: The fewest steps in an epoch: a few hundred labels make smaller batches rather than one step per epoch.
MIN_STEPS_PER_EPOCH = 10


@keras.saving.register_keras_serializable(package="keras_panns")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy per class, weighted per example and class; `y_true` packs targets and weights.

    `y_true` is `(batch, 2 * classes)`: the targets, then each target's weight (0: not labelled for that
    class), as `pack_targets` makes it. Each example's loss is the weighted sum over its classes.

    Args:
        name: str.
        reduction: str. As `keras.losses.Loss`.
        dtype: as `keras.losses.Loss` (the loss itself is computed in float32).

    Example:
    ```python
    head.compile("adam", MaskedBinaryCrossentropy())
    head.fit(x, pack_targets(targets, weights))
    ```
    """

    def __init__(self, name="masked_binary_crossentropy", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        classes = ops.shape(y_pred)[-1]
        targets, weights = y_true[..., :classes], y_true[..., classes:]
        epsilon = keras.config.epsilon()
        p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        losses = -(targets * ops.log(p) + (1.0 - targets) * ops.log(1.0 - p))
        return ops.sum(weights * losses, axis=-1)


def pack_targets(targets, weights):
    """`y_true` for `MaskedBinaryCrossentropy`: targets and weights side by side.

    Args:
        targets: float array `(n, classes)`, 0 or 1.
        weights: float array `(n, classes)`, 0 where an example is not labelled for a class.

    Returns:
        float32 array `(n, 2 * classes)`.

    Example:
    ```python
    pack_targets(np.eye(2), np.ones((2, 2))).shape  # (2, 4)
    ```
    """
    return np.concatenate([np.asarray(targets, np.float32), np.asarray(weights, np.float32)], axis=-1)


def embedding_scale(embeddings):
    """The factor that brings the embeddings' median norm to 1 (1 for none or all zero).

    Args:
        embeddings: float array `(n, embedding_size)`.

    Returns:
        float.

    Example:
    ```python
    build_head(2048, ["cuckoo"], input_scale=embedding_scale(x))
    ```
    """
    norms = np.linalg.norm(np.asarray(embeddings, np.float32), axis=1)
    norms = norms[norms > 0]
    return float(1.0 / np.median(norms)) if len(norms) else 1.0


def build_head(embedding_size, classes, hidden_units=0, dropout=0.0, name="head", input_scale=1.0):
    """A multi-label head from a base model's embedding to `classes`: linear, or one hidden layer.

    Args:
        embedding_size: int. The base model's embedding size (2048 for Cnn14).
        classes: sequence of str. The head's classes (its output order).
        hidden_units: int. 0: linear (logistic regression per class); else a ReLU layer of this size first.
        dropout: float. On the embedding (and the hidden layer).
        name: str. The model's name.
        input_scale: float. What the embedding is multiplied by first (`embedding_scale` of the training data).

    Returns:
        A functional `keras.Model` from `embedding` `(batch, embedding_size)` to sigmoid scores
        `(batch, len(classes))`, in float32 under any policy.

    Raises:
        ValueError: no classes, or a class named twice.

    Example:
    ```python
    head = build_head(2048, ["cuckoo", "blackbird"], hidden_units=256)
    ```
    """
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"a head needs distinct classes, got {classes}")
    embedding = keras.Input(shape=(int(embedding_size),), name="embedding")
    # Embeddings' norms differ by orders of magnitude between models (hundreds for some): scaled to about 1,
    # the optimiser's steps mean the same for every model, and a norm still tells what it tells (unit length
    # would drop it: held-out AP 0.50 against 0.85 for scikit-learn on raw ESC-10 embeddings).
    x = keras.layers.Rescaling(float(input_scale), name="embedding_scale", dtype="float32")(embedding)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x) if dropout else x
    if hidden_units:
        x = keras.layers.Dense(int(hidden_units), activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(dropout, name="hidden_dropout")(x) if dropout else x
    scores = keras.layers.Dense(len(classes), activation="sigmoid", name="scores", dtype="float32")(x)
    return keras.Model(embedding, scores, name=name)


def positive_weights(targets, labelled, weak_negatives=0, weak_weight=WEAK_NEGATIVE_WEIGHT):
    """Per class, the weight of a positive that gives its positives as much weight as its negatives.

    Args:
        targets: array `(n, classes)`, 0 or 1.
        labelled: bool array `(n, classes)`: which targets are labels.
        weak_negatives: int. Unlabelled windows met as often as the labelled ones (per epoch), each a negative
            of every class with `weak_weight`.
        weak_weight: float.

    Returns:
        float32 array `(classes,)`, between 1 and `MAX_POSITIVE_WEIGHT` (1 for a class without positives).

    Example:
    ```python
    positive_weights(np.array([[1.0], [0.0], [0.0]]), np.ones((3, 1), bool))  # [2.]
    ```
    """
    labelled = np.asarray(labelled, bool)
    positives = (np.asarray(targets) > 0.5) & labelled
    negatives = (~positives & labelled).sum(axis=0) + weak_weight * weak_negatives
    ratio = negatives / np.maximum(positives.sum(axis=0), 1)
    return np.clip(ratio, 1.0, MAX_POSITIVE_WEIGHT).astype(np.float32)


class WeakNegatives:
    """An endless stream of unlabelled windows' embeddings, one block at a time, in a new order every pass.

    Args:
        blocks: callable() -> iterable of float32 arrays `(n, embedding_size)`: one pass over the unlabelled
            windows (for an index, one Parquet part at a time).
        count: int. How many windows one pass yields.
        seed: int.

    Example:
    ```python
    weak = WeakNegatives.from_array(unlabelled_embeddings)
    weak.take(512).shape  # (512, 2048)
    ```
    """

    def __init__(self, blocks, count, seed=0):
        self._blocks = blocks
        self.count = int(count)
        self._rng = np.random.default_rng(seed)
        self._pending = np.zeros((0, 0), np.float32)
        self._source = None

    @classmethod
    def from_array(cls, embeddings, block=65536, seed=0):
        """A stream over an in-memory array (cut into blocks of `block` windows).

        Args:
            embeddings: float32 array `(n, embedding_size)`.
            block: int.
            seed: int.

        Returns:
            `WeakNegatives`.

        Example:
        ```python
        WeakNegatives.from_array(np.zeros((10, 4), "float32")).count  # 10
        ```
        """
        embeddings = np.asarray(embeddings, np.float32)
        return cls(lambda: (embeddings[i : i + block] for i in range(0, len(embeddings), block)), len(embeddings), seed)

    def _next_block(self):
        for _ in range(2):  # a pass that yields nothing ends the stream
            if self._source is None:
                self._source = iter(self._blocks())
            for block in self._source:
                if len(block):
                    return np.asarray(block, np.float32)[self._rng.permutation(len(block))]
            self._source = None
        raise ValueError("the weak negatives are empty")

    def take(self, n):
        """The next `n` embeddings of the stream.

        Args:
            n: int.

        Returns:
            float32 array `(n, embedding_size)`.

        Example:
        ```python
        weak.take(256)
        ```
        """
        parts, have = [self._pending], len(self._pending)
        while have < n:
            block = self._next_block()
            parts.append(block)
            have += len(block)
        joined = np.concatenate([p for p in parts if p.size]) if have else parts[0]
        self._pending = joined[n:]
        return joined[:n]


def training_batches(embeddings, targets, labelled, weak=None, *, batch_size=1024, weak_weight=WEAK_NEGATIVE_WEIGHT,
                     seed=0):  # fmt: skip
    """`(steps per epoch, endless generator of (x, y))` for `model.fit`: half labelled, half weak negatives.

    Args:
        embeddings: float32 array `(n, embedding_size)` of the labelled windows.
        targets: array `(n, classes)`, 0 or 1.
        labelled: bool array `(n, classes)`.
        weak: `WeakNegatives` or None (labelled windows only).
        batch_size: int. Windows per batch at most: fewer labelled windows than `MIN_STEPS_PER_EPOCH` half-batches
            make smaller batches.
        weak_weight: float. A weak negative's weight.
        seed: int.

    Returns:
        `(steps, generator)`: an epoch is `steps` batches that go through the labelled windows once.

    Example:
    ```python
    steps, batches = training_batches(x, y, mask, WeakNegatives.from_array(unlabelled))
    head.fit(batches, steps_per_epoch=steps, epochs=30)
    ```
    """
    embeddings = np.asarray(embeddings, np.float32)
    targets = np.asarray(targets, np.float32)
    labelled = np.asarray(labelled, bool)
    share = batch_size // 2 if weak is not None else batch_size
    share = max(1, min(share, math.ceil(len(embeddings) / MIN_STEPS_PER_EPOCH)))
    batch_size = 2 * share if weak is not None else share
    steps = max(1, math.ceil(len(embeddings) / share))
    # Balanced as the batches hold them: an epoch meets each labelled window once and `steps` half-batches of
    # weak negatives, however many windows the stream cycles over.
    seen = steps * (batch_size - share) if weak is not None else 0
    weights = np.where(labelled, 1.0, 0.0).astype(np.float32)
    weights *= np.where(targets > 0.5, positive_weights(targets, labelled, seen, weak_weight), 1)
    rng = np.random.default_rng(seed)
    classes = targets.shape[1]

    def generate():
        while True:
            order = rng.permutation(len(embeddings))
            for step in range(steps):
                rows = order[step * share : (step + 1) * share]
                x, y, w = embeddings[rows], targets[rows], weights[rows]
                if weak is not None:
                    negatives = weak.take(batch_size - len(rows))
                    x = np.concatenate([x, negatives])
                    y = np.concatenate([y, np.zeros((len(negatives), classes), np.float32)])
                    w = np.concatenate([w, np.full((len(negatives), classes), weak_weight, np.float32)])
                yield x, pack_targets(y, w)

    return steps, generate()


def fit_head(head, embeddings, targets, labelled, weak=None, *, epochs=50, batch_size=1024, learning_rate=1e-2,
             weak_weight=WEAK_NEGATIVE_WEIGHT, seed=0, verbose=0):  # fmt: skip
    """Compiles and fits `head` on labelled windows (and weak negatives); returns the Keras `History`.

    Args:
        head: from `build_head`.
        embeddings: float32 array `(n, embedding_size)`.
        targets: array `(n, classes)`, 0 or 1.
        labelled: bool array `(n, classes)`.
        weak: `WeakNegatives` or None.
        epochs: int. Passes over the labelled windows.
        batch_size: int.
        learning_rate: float. Adam's (a linear head on fixed embeddings takes a large one).
        weak_weight: float.
        seed: int. The batches' order (the weights' initialisation follows `keras.utils.set_random_seed`).
        verbose: int. As `model.fit`.

    Returns:
        `keras.callbacks.History`.

    Example:
    ```python
    fit_head(head, x, y, mask, WeakNegatives.from_array(unlabelled), epochs=30)
    ```
    """
    head.compile(keras.optimizers.Adam(learning_rate), MaskedBinaryCrossentropy())
    steps, batches = training_batches(
        embeddings, targets, labelled, weak, batch_size=batch_size, weak_weight=weak_weight, seed=seed
    )
    return head.fit(batches, steps_per_epoch=steps, epochs=epochs, verbose=verbose, shuffle=False)


def cross_validate_head(embeddings, targets, labelled, groups, *, folds=5, hidden_units=0, weak=None, seed=0,
                        **fit_options):  # fmt: skip
    """Held-out per-class AP and ROC-AUC: each fold's windows scored by a head fitted on the other folds.

    Windows of one group (a file) stay in one fold, so a head is never tested on the file it learned from.

    Args:
        embeddings: float32 array `(n, embedding_size)`.
        targets: array `(n, classes)`, 0 or 1.
        labelled: bool array `(n, classes)`.
        groups: array `(n,)`: each window's file.
        folds: int. At most the number of groups.
        hidden_units: int. As `build_head`.
        weak: `WeakNegatives` or None.
        seed: int.
        **fit_options: passed to `fit_head`.

    Returns:
        `(scores, records)`: the held-out scores `(n, classes)`, and per class a dict with `ap` and `roc_auc`
        (scikit-learn's, over the windows labelled for it; None without both a positive and a negative),
        `positives` and `negatives`.

    Example:
    ```python
    held_out, records = cross_validate_head(x, y, mask, files, folds=5)
    ```
    """
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import GroupKFold

    embeddings = np.asarray(embeddings, np.float32)
    targets, labelled = np.asarray(targets, np.float32), np.asarray(labelled, bool)
    splits = GroupKFold(n_splits=min(folds, len(np.unique(groups))))
    held_out = np.zeros(targets.shape, np.float32)
    for train, test in splits.split(embeddings, groups=groups):
        keras.utils.set_random_seed(seed)
        head = build_head(
            embeddings.shape[1],
            [f"c{i}" for i in range(targets.shape[1])],
            hidden_units,
            input_scale=embedding_scale(embeddings[train]),
        )
        fit_head(head, embeddings[train], targets[train], labelled[train], weak, seed=seed, **fit_options)
        held_out[test] = np.asarray(head.predict(embeddings[test], batch_size=4096, verbose=0))
    records = []
    for c in range(targets.shape[1]):
        mine = labelled[:, c]
        truth, scores = targets[mine, c] > 0.5, held_out[mine, c]
        both = truth.any() and (~truth).any()
        records.append(
            {
                "positives": int(truth.sum()),
                "negatives": int((~truth).sum()),
                "ap": float(average_precision_score(truth, scores)) if both else None,
                "roc_auc": float(roc_auc_score(truth, scores)) if both else None,
            }
        )
    return held_out, records
