"""A head trained on an index's labels, saved as a folder: the Keras model and a card that says what it is.

`train_index_head` reads the labelled windows' embeddings and streams the rest as weak negatives
(`data`), measures the head on held-out files (`training.cross_validate_head`), chooses each class's
operating point on those held-out scores (`calibration.choose_point`, the same as `calibrate`), then fits
the head on every label and writes, atomically, `HEAD/head.keras` and `HEAD/card.json`:

- the head's classes, their label counts, held-out AP and ROC-AUC, and operating points;
- the base model's fingerprint (weights, classes, runtime) and the index's window and hop: a head only
  fits embeddings of the same model over the same windows;
- how it was trained (hidden units, epochs, weak-negative weight, folds) and the labels' sha256.

A head's class may not be named like a class of its base model: its scores sit beside the model's own.

Example:
```python
card = train_index_head(Index("field.index"), read_label_file("cuckoo.csv"), "cuckoo.head")
card.classes["cuckoo"]["ap"]
```
"""

import dataclasses
import datetime
import json
import os
import shutil
import tempfile

import numpy as np

from keras_panns.errors import ArchiveError

FORMAT = "keras-panns-head/1"
CARD = "card.json"
MODEL = "head.keras"


@dataclasses.dataclass
class HeadCard:
    """What a head is: its classes with their metrics and points, the base model, and how it was trained.

    Attributes:
        classes: dict class -> {"positives", "negatives", "ap", "roc_auc", "point"} (`point` as
            `calibration.choose_point` gives it, or None with too few labels).
        base: dict. The base model's fingerprint (`decisions.index_fingerprint`).
        windows: dict. `window_seconds`, `hop_seconds` and `embedding_size` of the embeddings.
        training: dict. hidden_units, epochs, weak_weight, weak_negatives, folds, target, labels_sha256.
        created: str. ISO time.

    Example:
    ```python
    card = HeadCard.load("cuckoo.head")
    card.check_base(Index("other.index").manifest)
    ```
    """

    classes: dict
    base: dict
    windows: dict
    training: dict
    created: str = ""

    def to_json(self):
        """The card as `card.json` holds it.

        Returns:
            dict.

        Example:
        ```python
        json.dumps(card.to_json())
        ```
        """
        return {"format": FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def load(cls, folder):
        """The card of a head folder.

        Args:
            folder: str or path-like. A folder `train_index_head` wrote.

        Returns:
            `HeadCard`.

        Raises:
            ArchiveError: no card, or not a head card.

        Example:
        ```python
        HeadCard.load("cuckoo.head").classes
        ```
        """
        path = os.path.join(folder, CARD)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{folder} is not a keras-panns head ({path}: {exc})") from exc
        if data.pop("format", None) != FORMAT:
            raise ArchiveError(f"{path} is not a {FORMAT} card")
        return cls(**data)

    def check_base(self, manifest):
        """Refuses an index made with another model or other windows, in one line naming the difference.

        Args:
            manifest: dict. An index's manifest.

        Raises:
            ArchiveError: the index's model or windows are not the head's.

        Example:
        ```python
        card.check_base(Index("field.index").manifest)
        ```
        """
        from keras_panns.decisions import index_fingerprint

        theirs = {**index_fingerprint(manifest), **index_windows(manifest)}
        ours = {**self.base, **self.windows}
        keys = ("weights_sha256", "labels_sha256", "model", "window_seconds", "hop_seconds", "embedding_size")
        differ = [key for key in keys if ours.get(key) != theirs.get(key)]
        if differ:
            key = differ[0]
            raise ArchiveError(
                f"the head was trained on {key} {ours.get(key)!r}, the index has {theirs.get(key)!r}: a head "
                "fits only embeddings of its base model over the same windows"
            )


def index_windows(manifest):
    """What a head's embeddings must share with an index: its window, hop and embedding size.

    Args:
        manifest: dict. An index's manifest.

    Returns:
        dict with `window_seconds`, `hop_seconds`, `embedding_size`.

    Example:
    ```python
    index_windows(Index("field.index").manifest)  # {'window_seconds': 10.0, 'hop_seconds': 5.0, ...}
    ```
    """
    return {key: manifest.get(key) for key in ("window_seconds", "hop_seconds", "embedding_size")}


def check_class_names(classes, base_labels):
    """Refuses head classes named like the base model's classes (or twice), naming them.

    Args:
        classes: sequence of str.
        base_labels: sequence of str. The base model's classes.

    Raises:
        ArchiveError: a clash.

    Example:
    ```python
    check_class_names(["cuckoo"], index.labels)
    ```
    """
    base = {name.casefold(): name for name in base_labels}
    clashes = [name for name in classes if name.casefold() in base]
    if clashes:
        shown = ", ".join(repr(name) for name in clashes[:5])
        raise ArchiveError(
            f"head classes named like classes of the base model: {shown}; rename them (say 'my {clashes[0]}'): "
            "a head's scores sit beside the model's own"
        )


def train_index_head(index, labels, out, classes=None, *, hidden_units=0, epochs=50, folds=5, target="f1",
                     weak_weight=None, batch_size=1024, learning_rate=1e-2, seed=0, labels_sha256=None):  # fmt: skip
    """Trains, measures and writes a head for `classes` on `labels` over `index`'s embeddings.

    Args:
        index: `keras_panns.Index` with embeddings.
        labels: pandas DataFrame (path, start, end, label, label_type), paths the index's.
        out: str or path-like. The head folder to write (replaced whole when it exists).
        classes: sequence of str or None (every class of `labels`).
        hidden_units: int. 0: linear.
        epochs: int. Passes over the labelled windows.
        folds: int. Cross-validation folds over files.
        target: str. `precision=P`, `recall=R` or `f1`: each class's operating point.
        weak_weight: float or None (`training.WEAK_NEGATIVE_WEIGHT`); 0: no weak negatives.
        batch_size: int.
        learning_rate: float.
        seed: int.
        labels_sha256: str or None. Recorded on the card.

    Returns:
        `HeadCard`.

    Raises:
        ArchiveError: no embeddings (names the flag), head classes named like the base model's, a class without
            positive windows (or without any negative, weak or labelled), no labelled window, or labels on
            one file only.

    Example:
    ```python
    card = train_index_head(index, read_label_file("labels.csv"), "birds.head", hidden_units=128)
    ```
    """
    import keras

    from keras_panns.calibration import choose_point, parse_target
    from keras_panns.decisions import index_fingerprint
    from keras_panns.heads.data import head_examples, index_weak_negatives, labelled_embeddings
    from keras_panns.heads.training import (
        WEAK_NEGATIVE_WEIGHT,
        build_head,
        cross_validate_head,
        embedding_scale,
        fit_head,
    )

    index.require("embeddings")
    parsed = parse_target(target)
    classes = sorted(set(labels.label)) if classes is None else list(classes)
    check_class_names(classes, index.labels)
    examples = head_examples(index, labels, classes)
    counts = examples.counts()
    empty = [name for name in classes if counts[name]["positives"] == 0]
    if empty:
        raise ArchiveError(f"no positive window of {', '.join(empty)}: a head learns a class from its positives")
    if len(set(examples.paths)) < 2:
        raise ArchiveError(
            f"every label is on one file ({examples.paths[0]}): a head is measured on files it did not learn "
            "from, so label windows of at least two files"
        )
    weak_weight = WEAK_NEGATIVE_WEIGHT if weak_weight is None else float(weak_weight)
    x = labelled_embeddings(index, examples.rows)
    weak = index_weak_negatives(index, examples.rows, seed) if weak_weight > 0 else None
    if weak is not None and weak.count == 0:
        weak = None
    alone = [name for name in classes if counts[name]["negatives"] == 0] if weak is None else []
    if alone:
        raise ArchiveError(
            f"{', '.join(alone)}: positives only, and no weak negatives (--weak_weight 0, or every window is "
            "labelled): label some negatives"
        )
    fit_options = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weak_weight=weak_weight)
    held_out, records = cross_validate_head(
        x, examples.targets, examples.labelled, examples.paths, folds=folds, hidden_units=hidden_units, weak=weak,
        seed=seed, **fit_options,
    )  # fmt: skip
    described = {}
    for c, (name, record) in enumerate(zip(classes, records)):
        mine = examples.labelled[:, c]
        truth = examples.targets[mine, c] > 0.5
        try:
            point = choose_point(held_out[mine, c], truth, parsed, folds=folds, seed=seed)
        except ValueError:  # fewer than two positives or negatives
            point = None
        described[name] = {**record, "point": point}
    keras.utils.set_random_seed(seed)
    head = build_head(x.shape[1], classes, hidden_units, name="head", input_scale=embedding_scale(x))
    fit_head(head, x, examples.targets, examples.labelled, weak, seed=seed, **fit_options)
    card = HeadCard(
        classes=described,
        base=index_fingerprint(index.manifest),
        windows=index_windows(index.manifest),
        training={
            "hidden_units": int(hidden_units),
            "epochs": int(epochs),
            "weak_weight": weak_weight,
            "weak_negatives": int(weak.count) if weak is not None else 0,
            "folds": int(folds),
            "target": target,
            "labels_sha256": labels_sha256,
            "index": os.path.abspath(index.path),
        },
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    save_head(head, card, out)
    return card


def save_head(head, card, out):
    """Writes a head folder whole or not at all: built beside `out`, then renamed over it.

    Args:
        head: keras.Model. From the embedding to the classes' scores.
        card: `HeadCard`.
        out: str or path-like. The folder (replaced when it exists).

    Example:
    ```python
    save_head(build_head(2048, ["cuckoo"]), card, "cuckoo.head")
    ```
    """
    out = os.path.abspath(os.fspath(out))
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out)}.partial-")
    try:
        head.save(os.path.join(scratch, MODEL))
        with open(os.path.join(scratch, CARD), "w", encoding="utf-8") as f:
            json.dump(card.to_json(), f, indent=2, default=_plain)
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def load_head(folder, manifest=None):
    """A head folder's Keras model and card, checked against an index's manifest when given.

    Args:
        folder: str or path-like.
        manifest: dict or None. An index's manifest: its model and windows must be the head's.

    Returns:
        `(keras.Model, HeadCard)`.

    Raises:
        ArchiveError: not a head folder, or made for another base model or windows.

    Example:
    ```python
    head, card = load_head("cuckoo.head", Index("field.index").manifest)
    ```
    """
    import keras

    import keras_panns.heads.training  # noqa: F401  (registers the head's loss for loading)

    card = HeadCard.load(folder)
    if manifest is not None:
        card.check_base(manifest)
    return keras.saving.load_model(os.path.join(folder, MODEL)), card
