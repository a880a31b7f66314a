"""Fine-tunes a PANNs model on a labelled CSV and reports k-fold cross-validated accuracy.

Reads a CSV with a header (ESC-50 style: --path_column filename
--label_column category --fold_column fold), loads every clip at the model's
rate, padded or trimmed to --clip_seconds, and for each fold trains on the
other folds and measures accuracy on it. Prints the accuracy per fold and the
mean. --out then trains once on everything and saves the classifier as .keras.

Modes:
  embeddings  embed every clip once with the frozen base, train a linear head
              (PANNs' "freeze base" transfer; seconds per fold on CPU)
  full        fine-tune base and head together on the waveforms
  --from_scratch trains the architecture from random weights (mode full).

Examples:
  keras-panns finetune --model cnn14 --csv ESC-50/meta/esc50.csv --audio_dir ESC-50/audio \\
      --path_column filename --label_column category --fold_column fold
  keras-panns finetune --model cnn6 --from_scratch --epochs 30 --csv esc10.csv ... --out esc10_cnn6.keras
"""

import csv
import inspect
import json
import os
import sys
import time

import numpy as np
from absl import app

from keras_panns.cli.common import define_out_flag, no_arguments

USAGE = (
    "--csv FILE --path_column C --label_column C --fold_column C [--model NAME|--checkpoint PATH] "
    "[--mode embeddings|full] [--from_scratch] [--out model.keras]"
)


def define_flags(fv):
    from absl import flags

    flags.DEFINE_string("csv", None, "CSV with a header row: path, label and fold columns.", flag_values=fv)
    flags.DEFINE_string("audio_dir", None, "Base of relative paths (default: the CSV's folder).", flag_values=fv)
    flags.DEFINE_string("path_column", "path", "Column of file paths.", flag_values=fv)
    flags.DEFINE_string("label_column", "label", "Column of class labels (one per clip).", flag_values=fv)
    flags.DEFINE_string("fold_column", "fold", "Column of fold numbers.", flag_values=fv)
    flags.DEFINE_string("model", "cnn14", "Zoo name (pretrained) or architecture (--from_scratch).", flag_values=fv)
    flags.DEFINE_string(
        "checkpoint", None, "Pretrained weights: .pth, preset or URL; overrides --model.", flag_values=fv
    )
    flags.DEFINE_boolean("from_scratch", False, "Random initial weights instead of pretrained ones.", flag_values=fv)
    flags.DEFINE_list(
        "model_config",
        [],
        "With --from_scratch: constructor arguments to change, as key=value "
        "pairs, e.g. sample_rate=16000,window_size=512,hop_size=320,fmax=8000,mel_bins=32.",
        flag_values=fv,
    )
    flags.DEFINE_enum("mode", "embeddings", ["embeddings", "full"], "What is trained (see above).", flag_values=fv)
    flags.DEFINE_float("clip_seconds", 5.0, "Clip length (ESC-50: 5 s).", lower_bound=0.5, flag_values=fv)
    flags.DEFINE_integer("epochs", 20, "Training epochs per fold.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("batch_size", 16, "Batch size.", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Random seed.", flag_values=fv)
    define_out_flag(fv, "Train on all folds and save the classifier here (.keras).", endings=(".keras",))
    flags.mark_flag_as_required("csv", flag_values=fv)


def _load(fv, sample_rate):
    from tqdm.auto import tqdm

    from keras_panns.audio import load_audio
    from keras_panns.errors import DataError

    base = fv.audio_dir or os.path.dirname(os.path.abspath(fv.csv))
    try:
        with open(fv.csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise DataError(f"{fv.csv}: cannot read the CSV ({exc})") from exc
    missing = {fv.path_column, fv.label_column, fv.fold_column} - set(rows[0] if rows else {})
    if missing:
        raise DataError(f"{fv.csv}: no column {sorted(missing)}")
    names = sorted({r[fv.label_column] for r in rows})
    samples = int(fv.clip_seconds * sample_rate)
    waveforms = np.zeros((len(rows), samples), np.float32)
    for i, row in enumerate(tqdm(rows, desc="loading", unit="clip", file=sys.stderr, disable=not sys.stderr.isatty())):
        clip = load_audio(os.path.join(base, row[fv.path_column]), sample_rate)[:samples]
        waveforms[i, : len(clip)] = clip
    labels = np.array([names.index(r[fv.label_column]) for r in rows])
    folds = np.array([r[fv.fold_column] for r in rows])
    return waveforms, labels, folds, names


def _base(fv):
    from keras_panns.hub import loaders
    from keras_panns.models import PANNsModel

    if not fv.from_scratch:
        return PANNsModel.from_pretrained(fv.checkpoint or fv.model)
    arch, kwargs = loaders.architecture_and_config(fv.model)
    takes = [p for p in inspect.signature(arch).parameters if p not in ("kwargs", "name", "dtype")]
    if "include_top" in takes:
        kwargs["include_top"] = False  # the classifier reads the embedding; an untrained AudioSet head is dead weight
    changes = _model_config(fv.model_config)
    unknown = sorted(set(changes) - set(takes))
    if unknown:
        raise app.UsageError(
            f"--model_config: {arch.__name__} has no argument {', '.join(unknown)}; it takes {', '.join(takes)}"
        )
    try:
        return arch(**{**kwargs, **changes})
    except (TypeError, ValueError) as exc:  # a value of the wrong type or range
        raise app.UsageError(f"--model_config: {exc}") from exc


def _model_config(pairs):
    """`["hop_size=320", "spec_augment=false"]` -> `{"hop_size": 320, "spec_augment": False}`."""
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise app.UsageError(f"--model_config takes key=value pairs, got {pair!r}")
        value = value.strip()
        if value in ("True", "False"):  # Python spelling, as the constructors' defaults read
            value = value.lower()
        try:
            config[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            config[key.strip()] = value
    return config


def run(args, fv):
    import keras

    from keras_panns.training.finetune import cross_validate, embed_waveforms

    no_arguments(args)
    mode = "full" if fv.from_scratch else fv.mode
    keras.utils.set_random_seed(fv.seed)
    probe = _base(fv)
    waveforms, labels, folds, names = _load(fv, probe.sample_rate)
    features = embed_waveforms(probe, waveforms, fv.batch_size) if mode == "embeddings" else waveforms
    build = _builder(fv, mode, features.shape[1] if mode == "embeddings" else None, len(names))

    def fit(model, x, y):
        # A progress bar per fold on a terminal: from-scratch folds take minutes.
        model.fit(
            x, y, epochs=fv.epochs, batch_size=fv.batch_size, verbose=1 if sys.stderr.isatty() else 0, shuffle=True
        )

    start = time.perf_counter()
    scores, mean = cross_validate(build, fit, features, labels, folds)
    for fold, score in zip(np.unique(folds), scores):
        print(f"fold {fold}: accuracy {score:.3f}")
    print(f"{len(scores)} folds in {(time.perf_counter() - start) / 60:.1f} min on {os.cpu_count()} cores")
    print(f"mean accuracy over {len(scores)} folds: {mean:.3f} ({mode}, {len(labels)} clips, {len(names)} classes)")
    if fv.out:
        model = build()
        fit(model, features, labels)
        if mode == "embeddings":
            model = _on_waveforms(probe, model)
        tmp = fv.out[: -len(".keras")] + ".partial.keras"
        model.save(tmp)
        os.replace(tmp, fv.out)
        print(f"saved {fv.out} (classes: {', '.join(names)})")
    return 0


def _builder(fv, mode, embedding_size, num_classes):
    """A function building a fresh compiled classifier: a head on embeddings, or the whole network."""
    import keras

    from keras_panns.training.finetune import embedding_classifier, make_classifier

    def build():
        if mode == "embeddings":
            model = embedding_classifier(embedding_size, num_classes)
        else:
            model = make_classifier(_base(fv), num_classes, freeze_base=False)
        model.compile(keras.optimizers.Adam(fv.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build


def _on_waveforms(probe, head):
    """The frozen embedding model and a trained head as one model from waveforms to classes."""
    import keras

    waveform = keras.Input(shape=(None,), name="waveform")
    probe.trainable = False
    return keras.Model(waveform, head(probe(waveform)["embedding"]), name="finetuned_classifier")
