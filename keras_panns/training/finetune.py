"""Transfer learning: a pretrained PANNs model as the base of a classifier for new labels.

PANNs' own transfer recipe (Kong et al. 2020, section V) puts a new linear
layer on the 2048-d embedding and either freezes the base or fine-tunes it
all. `make_classifier` builds that as one Keras model that saves to `.keras`;
`embedding_classifier` is the cheap variant trained on precomputed embeddings.
"""

import keras
import numpy as np


def make_classifier(base, num_classes, *, multi_label=False, freeze_base=True, dropout=0.5, name=None):
    """A waveform classifier: `base`'s embedding -> dropout -> a new dense head.

    Args:
        base: a keras_panns model with an `embedding` output (e.g. `Cnn14.from_pretrained()`).
        num_classes: int.
        multi_label: bool. Sigmoid outputs for binary cross-entropy (several labels per clip)
            instead of softmax for categorical cross-entropy.
        freeze_base: bool. Train only the head (the base then runs in inference mode, BN included).
        dropout: float. Before the head.
        name: str or None.

    Returns:
        A functional `keras.Model` from `waveform` to class scores `(batch, num_classes)`.

    Example:
    ```python
    base = keras_panns.Cnn14.from_pretrained()
    model = make_classifier(base, 10)
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(waveforms, one_hot_labels, epochs=5)
    model.save("esc10.keras")
    ```
    """
    if "embedding" not in base.output:
        raise ValueError(f"{base.name} has no embedding output to build a classifier on")
    base.trainable = not freeze_base
    waveform = keras.Input(shape=(None,), dtype="float32", name="waveform")
    embedding = base(waveform)["embedding"]
    x = keras.layers.Dropout(dropout, name="head_dropout")(embedding)
    scores = keras.layers.Dense(
        num_classes, activation="sigmoid" if multi_label else "softmax", name="head", dtype="float32"
    )(x)
    return keras.Model(waveform, scores, name=name or f"{base.name}_classifier")


def embedding_classifier(embedding_size, num_classes, *, multi_label=False, dropout=0.5, hidden=None):
    """A head trained on precomputed embeddings (`embed_waveforms`), seconds to train on CPU."""
    embedding = keras.Input(shape=(embedding_size,), name="embedding")
    x = keras.layers.Dropout(dropout)(embedding)
    if hidden:
        x = keras.layers.Dense(hidden, activation="relu")(x)
    scores = keras.layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax", name="head")(x)
    return keras.Model(embedding, scores, name="embedding_classifier")


def embed_waveforms(base, waveforms, batch_size=16):
    """Embeddings `(clips, embedding_size)` of equal-length waveforms `(clips, samples)`."""
    rows = [
        np.asarray(base.predict_on_batch(waveforms[i : i + batch_size])["embedding"])
        for i in range(0, len(waveforms), batch_size)
    ]
    return np.concatenate(rows)


def cross_validate(build, fit, features, labels, folds):
    """k-fold cross-validation; returns `(per-fold accuracy list, mean)`.

    Args:
        build: callable returning a fresh compiled model.
        fit: callable `(model, x, y)` that trains it.
        features: array `(clips, ...)`: waveforms or embeddings.
        labels: int array `(clips,)`.
        folds: int array `(clips,)`: the fold of each clip (ESC-50's `fold` column).
    """
    scores = []
    for fold in np.unique(folds):
        test = folds == fold
        model = build()
        fit(model, features[~test], labels[~test])
        predictions = np.argmax(np.asarray(model.predict(features[test], verbose=0)), axis=1)
        scores.append(float(np.mean(predictions == labels[test])))
    return scores, float(np.mean(scores))
