"""Classifier heads for your own classes on an index's stored embeddings: train one, apply it (no audio decoded).

`keras-panns classify train INDEX --labels FILE --out HEAD` reads the label
file (any format `label --import` reads, told from its header; your own class names, none named
like a class of the index's model), or without --labels the index's own
labels of your own classes (`keras-panns label INDEX --import FILE
--own_classes`), finds the windows each label covers, and
trains a multi-label head on their embeddings (linear, or --hidden_units for
one hidden layer) with `model.fit`. Every other window of the index is a weak
negative with the small weight --weak_weight, streamed one Parquet part at a
time, and each class's positives weigh as much as its negatives. Before the
final fit, the head is cross-validated over files (--folds): per class,
held-out AP and ROC-AUC (scikit-learn), and an operating point chosen on the
held-out scores for --target, with its held-out precision and recall (95%
intervals), as `calibrate` chooses them.

HEAD is a folder written whole or not at all: head.keras (a Keras model from
the embedding to the classes' scores) and card.json (classes, label counts,
metrics, points, the base model's fingerprint and windows, how it was
trained, the labels' sha256). The index needs embeddings (`keras-panns index
--outputs embeddings`).

`keras-panns classify apply INDEX --head HEAD` scores every window of the
index from its stored embedding into INDEX/heads/NAME/ (NAME: --name, else
the head folder's name without .head), one Parquet part per windows part.
A rerun after a kill scores only the parts missing; a grown index (index run
again over more files) scores only its new windows; parts of retired windows
are removed. With --events, each class's runs of consecutive windows at or
over its operating point (the card's, else 0.5) are written as events.
Then `search --label CLASS` finds a head's classes like the model's
(--operating_points takes the head's own points for them), and
`keras_panns.Index(INDEX).head_scores(NAME)` reads the scores.

Examples:
  keras-panns classify train field.index --labels cuckoo_labels.csv --out cuckoo.head
  keras-panns label field.index --import cuckoo_review.csv --own_classes
  keras-panns classify train field.index --out cuckoo.head     # from the index's own-class labels
  keras-panns classify train field.index --labels birds.csv --out birds.head --hidden_units 128 --target precision=0.9
  keras-panns classify apply field.index --head cuckoo.head --events
  keras-panns search field.index --label cuckoo --level files
"""

import sys

from absl import app

USAGE = (
    "train INDEX [--labels FILE] --out HEAD [--classes A,B] [--hidden_units N] [--epochs N] [--target T]\n"
    "       keras-panns classify apply INDEX --head HEAD [--name NAME] [--events] [--replace]"
)


def define_flags(fv):
    from absl import flags

    from keras_panns.cli.common import define_out_flag

    define_out_flag(fv, "train: the head folder to write (head.keras and card.json).")
    flags.DEFINE_string("head", None, "apply: the head folder (classify train --out).", flag_values=fv)
    flags.DEFINE_string("name", None, "apply: the head's name in the index (default: the folder's, less .head).",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_boolean("events", False, "apply: also write each class's runs of windows over its point.",
                         flag_values=fv)  # fmt: skip
    flags.DEFINE_boolean("replace", False, "apply: score everything again when another head has the name.",
                         flag_values=fv)  # fmt: skip
    flags.DEFINE_boolean("progress", True, "apply: a progress bar on stderr.", flag_values=fv)
    flags.DEFINE_string("labels", None, "train: a label file (path, start, end, label[, label_type]); default: "
                        "the index's labels of your own classes (label --import --own_classes).",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_list("classes", [], "The head's classes (default: every class of the labels).", flag_values=fv)
    flags.DEFINE_integer("hidden_units", 0, "0: a linear head; else one ReLU layer of this size.", lower_bound=0,
                         flag_values=fv)  # fmt: skip
    flags.DEFINE_integer("epochs", 50, "Passes over the labelled windows.", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("learning_rate", 1e-2, "Adam's learning rate.", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("folds", 5, "Cross-validation folds over files.", lower_bound=2, flag_values=fv)
    flags.DEFINE_string("target", "f1", "Each class's operating point: precision=P, recall=R or f1.", flag_values=fv)
    flags.DEFINE_float("weak_weight", 0.05, "The weight of an unlabelled window as a negative (0: none).",
                       lower_bound=0, flag_values=fv)  # fmt: skip
    flags.DEFINE_integer("batch_size", 1024, "Windows per training step.", lower_bound=2, flag_values=fv)
    flags.DEFINE_integer("seed", 0, "The random seed.", flag_values=fv)


def _table(card):
    lines = [f"{'class':<24} {'pos':>5} {'neg':>6} {'AP':>6} {'ROC-AUC':>8} {'threshold':>9}  held-out P / R"]
    for name, record in card.classes.items():
        ap = "-" if record["ap"] is None else f"{record['ap']:.3f}"
        auc = "-" if record["roc_auc"] is None else f"{record['roc_auc']:.3f}"
        point = record["point"]
        where = "        -  too few labels"
        if point is not None:
            held = point["held_out"]
            where = f"{point['threshold']:>9.3f}  {held['precision']:.2f} / {held['recall']:.2f}"
        lines.append(f"{name[:24]:<24} {record['positives']:>5} {record['negatives']:>6} {ap:>6} {auc:>8} {where}")
    return "\n".join(lines)


def run(args, fv):
    if not args or args[0] not in ("train", "apply"):
        raise app.UsageError(f"classify takes train INDEX ... or apply INDEX ...; got {' '.join(args) or 'nothing'}")
    if len(args) != 2:
        raise app.UsageError(f"give one INDEX directory after {args[0]}")
    return _train(args[1], fv) if args[0] == "train" else _apply(args[1], fv)


def _apply(index_path, fv):
    from keras_panns.heads.apply import apply_head
    from keras_panns.search import Index

    if fv.head is None:
        raise app.UsageError("--head HEAD must have a value: the head folder to apply (classify train --out)")
    index = Index(index_path)
    report = apply_head(index, fv.head, fv.name, events=fv.events, replace=fv.replace, progress=fv.progress)
    print(report.summary())
    return 0


def _own_labels(index, label_file):
    """`(labels, sha256)`: from `label_file` (paths matched to the index's files), else the index's own-class
    annotations (`label --import --own_classes`), whose sha256 is that of their imports' provenances."""
    import hashlib

    from keras_panns.archive.annotations import Annotations, resolve_paths
    from keras_panns.archive.label_files import read_label_file
    from keras_panns.errors import ArchiveError
    from keras_panns.hub.download import file_hashes

    if label_file is not None:
        labels = read_label_file(label_file)  # its format told from its header
        matched = resolve_paths(labels.path, index.files.path)
        return labels.assign(path=[matched.get(path, path) for path in labels.path]), file_hashes(label_file)[1]
    labels = Annotations(index.path, index.labels).read("own")
    if labels.empty:
        raise ArchiveError(
            f"{index.path} holds no labels of your own classes: import some with keras-panns label {index.path} "
            "--import FILE --own_classes, or give --labels FILE"
        )
    provenances = "\n".join(sorted(set(labels.provenance)))
    return labels, hashlib.sha256(provenances.encode()).hexdigest()


def _train(index_path, fv):
    from keras_panns.heads.head import train_index_head
    from keras_panns.search import Index

    if fv.out is None:
        raise app.UsageError("--out HEAD must have a value: the head folder to write")
    index = Index(index_path)
    labels, labels_sha256 = _own_labels(index, fv.labels)
    missing = sorted(set(labels.path) - set(index.files.path))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        print(
            f"keras-panns: {len(missing)} labelled files are not in {index.path} (left out): {shown}", file=sys.stderr
        )
    try:
        from keras_panns.calibration import parse_target

        parse_target(fv.target)
    except ValueError as exc:
        raise app.UsageError(str(exc)) from exc
    card = train_index_head(
        index,
        labels,
        fv.out,
        fv.classes or None,
        hidden_units=fv.hidden_units,
        epochs=fv.epochs,
        folds=fv.folds,
        target=fv.target,
        weak_weight=fv.weak_weight,
        batch_size=fv.batch_size,
        learning_rate=fv.learning_rate,
        seed=fv.seed,
        labels_sha256=labels_sha256,
    )
    print(_table(card))
    print(
        f"wrote {fv.out}: a head of {len(card.classes)} classes on {card.base['model']} "
        f"({card.training['weak_negatives']:,} weak negatives)",
        file=sys.stderr,
    )
    return 0
