"""Evaluates scores against labels: an index with labels, or a model on packed shards.

On an index (`keras-panns evaluate --index INDEX`): per class with labels, average
precision and ROC-AUC (scikit-learn) over its labelled windows, and
precision, recall and F1 at the operating points (--operating_points, from
`keras-panns calibrate`; else every class at --threshold) with 95% bootstrap
intervals. The labels are the index's own (`keras-panns label`) or those of
--labels FILE, read without importing them: points chosen on the index's
labels look better on them than on new audio, so keep a test file aside.
--format json gives one record per class (name, positives, negatives, ap,
roc_auc, threshold, precision, recall, f1 and their intervals); csv one row.
With --head NAME, the classes of a head applied to the index (`keras-panns
classify apply`) on the labels of your own classes (the index's, or those of
--labels FILE), at the points on the head's card.

With --events, the index's events against its span labels (labels with a start and an end): PSDS in
DCASE's scenarios 1 and 2 (over every --high at or above the index's), and per class collar-based event F1
(onsets within 200 ms, offsets within 200 ms or 20% of the event) and segment F1 (1-s segments), at each
class's event high from --operating_points, else at --high (default: the index's own). All computed by
sed_scores_eval. A file with span labels counts as annotated in full for the classes evaluated. The index
needs events (`keras-panns index --outputs events`).

On a folder (--folder DIR --labels FILE): the folder is indexed first, as `keras-panns index` would with
--window and --hop (scores; with --events, events detected with --low as both high and low, so that every
high at or above --low is evaluated exactly; with --operating_points, each class's own low), into
--index_out (kept: a rerun resumes it and evaluates at once) or a temporary folder; then evaluated as an
index on the labels of FILE. Needs the archive extra (Ray).

On packed shards (--data DIR): runs the model over every clip and prints mAP
(mean over classes of average precision, scikit-learn's definition), mean
AUC and d', plus the best and worst classes by AP; --report writes one CSV
row per class.

Examples:
  keras-panns evaluate --index recordings.index --labels test_labels.csv --operating_points points.json
  keras-panns evaluate --index recordings.index --format json > per_class.json
  keras-panns evaluate --index recordings.index --events --operating_points points.json
  keras-panns evaluate --index field.index --head cuckoo --labels cuckoo_test.csv
  keras-panns evaluate --folder test_audio/ --labels test_labels.csv --events --index_out test.index
  keras-panns evaluate --model cnn14 --data packed/eval --report per_class.csv
  keras-panns evaluate --checkpoint runs/cnn6/model.keras --data packed/eval
"""

import csv
import json
import os
import sys

from absl import app

from keras_panns.cli.common import (
    define_model_flags,
    define_operating_points_flag,
    load_model,
    no_arguments,
    operating_points,
)

USAGE = (
    "--index INDEX [--events] [--labels FILE] [--operating_points FILE] [--format text|json|csv]  |  "
    "--folder DIR --labels FILE [--events] [--index_out INDEX]  |  "
    "--model NAME|--checkpoint PATH --data DIR [--report per_class.csv]"
)
FIELDS = ("name", "positives", "negatives", "ap", "roc_auc", "threshold", "precision", "recall", "f1")


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "cnn14", "Zoo name of the model (with --data).")
    flags.DEFINE_string("data", None, "Packed evaluation shards.", flag_values=fv)
    flags.DEFINE_string("index", None, "An index with labels (instead of --data).", flag_values=fv)
    flags.DEFINE_string(
        "folder", None, "A folder of audio to index and evaluate on --labels (needs the archive extra).", flag_values=fv
    )
    flags.DEFINE_string(
        "index_out",
        None,
        "With --folder: keep its index here (a rerun resumes it); default a temporary one.",
        flag_values=fv,
    )
    flags.DEFINE_float("window", 10.0, "With --folder: window length in seconds.", lower_bound=0.5, flag_values=fv)
    flags.DEFINE_float("hop", 5.0, "With --folder: step between windows in seconds.", lower_bound=0.01, flag_values=fv)
    flags.DEFINE_float(
        "low",
        0.2,
        "With --folder --events: the detector's low; events are detected from it, and every high above it is "
        "evaluated.",
        lower_bound=0,
        upper_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_string("report", None, "Per-class CSV report (with --data).", flag_values=fv)
    flags.DEFINE_integer("batch_size", 16, "Clips per forward pass (with --data).", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("top", 5, "Best and worst classes to print.", lower_bound=0, flag_values=fv)
    flags.DEFINE_enum("format", "text", ["text", "json", "csv"], "Output format (csv: INDEX only).", flag_values=fv)
    flags.DEFINE_string(
        "labels", None, "With --index: a label file to evaluate on instead of the index's own.", flag_values=fv
    )
    define_operating_points_flag(fv, "with --index, each class's own threshold.")
    flags.DEFINE_string(
        "head",
        None,
        "With --index: evaluate the classes of this head applied to the index (classify apply) on the labels of "
        "your own classes, at its card's points.",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "threshold",
        0.5,
        "With --index: the threshold of every class without --operating_points.",
        lower_bound=0,
        upper_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "resamples", 1000, "With --index: bootstrap resamples for the intervals.", lower_bound=10, flag_values=fv
    )
    flags.DEFINE_boolean(
        "events", False, "With --index: event metrics (PSDS, collar and segment F1) on span labels.", flag_values=fv
    )
    flags.DEFINE_float(
        "high",
        None,
        "With --events: the event high of classes without an event point (default: the index's).",
        lower_bound=0,
        upper_bound=1,
        flag_values=fv,
    )


def _interval(values):
    return "" if values is None else f" [{values[0]:.2f}, {values[1]:.2f}]"


def _number(value, digits=3):
    return "  n/a" if value is None else f"{value:.{digits}f}"


def _print_index_records(records, fmt, out):
    if fmt == "json":
        json.dump(records, out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        columns = list(FIELDS) + ["precision_ci", "recall_ci", "f1_ci"]
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({**record, **{k: json.dumps(record[k]) for k in ("precision_ci", "recall_ci", "f1_ci")}})
        return
    out.write(f"{'class':<28} {'pos':>5} {'neg':>5}    AP  ROC-AUC  thresh  precision [95%]    recall [95%]\n")
    for r in records:
        out.write(
            f"{r['name'][:28]:<28} {r['positives']:>5} {r['negatives']:>5} {_number(r['ap'])} {_number(r['roc_auc'])}"
            f"    {r['threshold']:.3f}  {r['precision']:.2f}{_interval(r['precision_ci'])}  "
            f"{r['recall']:.2f}{_interval(r['recall_ci'])}\n"
        )
    aps = [r["ap"] for r in records if r["ap"] is not None]
    if aps:
        out.write(f"mAP over {len(aps)} labelled classes: {sum(aps) / len(aps):.3f}\n")


EVENT_FIELDS = (
    "name",
    "events",
    "high",
    "collar_f1",
    "collar_precision",
    "collar_recall",
    "segment_f1",
    "segment_precision",
    "segment_recall",
)


def _print_event_report(report, fmt, out):
    if fmt == "json":
        json.dump(report, out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EVENT_FIELDS)
        writer.writeheader()
        writer.writerows(report["classes"])
        return
    out.write(
        f"{report['files']} files, {report['hours']:.2f} h: PSDS1 {report['psds1']:.3f}  PSDS2 {report['psds2']:.3f}\n"
    )
    out.write(f"{'class':<28} {'events':>6}   high  collar F1 (P / R)     segment F1 (P / R)\n")
    for r in report["classes"]:
        out.write(
            f"{r['name'][:28]:<28} {r['events']:>6}  {r['high']:.3f}  {r['collar_f1']:.2f} "
            f"({r['collar_precision']:.2f} / {r['collar_recall']:.2f})    {r['segment_f1']:.2f} "
            f"({r['segment_precision']:.2f} / {r['segment_recall']:.2f})\n"
        )


def _evaluate_index(path, fv):
    from keras_panns.archive.label_files import read_label_file
    from keras_panns.search import Index
    from keras_panns.search.labelled import evaluate_index

    if fv.data or fv.report:
        raise app.UsageError("give --index INDEX or --data DIR, not both (--report goes with --data)")
    if fv.head and (fv.events or fv.operating_points):
        raise app.UsageError("--head takes the points on its card: without --events or --operating_points")
    index = Index(path)
    points = operating_points(fv, model=index.manifest)
    labels = read_label_file(fv.labels) if fv.labels else None
    if fv.events:
        from keras_panns.search.labelled import index_labels
        from keras_panns.search.labelled_events import evaluate_events

        report = evaluate_events(index, index_labels(index, labels), points, high=fv.high)
        _print_event_report(report, fv.format, sys.stdout)
        return 0
    if fv.high is not None:
        raise app.UsageError("--high goes with --events (the window threshold is --threshold)")
    records = evaluate_index(
        index, labels, points, default_threshold=fv.threshold, resamples=fv.resamples, head=fv.head
    )
    _print_index_records(records, fv.format, sys.stdout)
    return 0


def _index_folder(folder, out, fv):
    """Indexes `folder` into `out` as `keras-panns index` would, with what evaluation needs."""
    from keras_panns.archive import index_archive
    from keras_panns.archive.spec import IndexSpec
    from keras_panns.cli.common import event_points, frame_scoring_model

    events = ("events",) if fv.events else ()
    points = event_points(fv)[1] if fv.events and fv.operating_points else []
    spec = IndexSpec(
        outputs=("scores", *events),
        window_seconds=fv.window,
        hop_seconds=fv.hop,
        high=fv.low,  # every high at or above the low is then exact: events are scored by their peak
        low=fv.low,
        event_points=tuple((name, low, low) for name, _, low in points),
    )

    def model():
        loaded = frame_scoring_model(load_model(fv), "evaluate") if events else load_model(fv)
        event_points(fv, loaded)  # before the job: points of another model are refused at once
        return loaded

    summary = index_archive([folder], out, model, spec, model_source=fv.checkpoint or fv.model)
    print(summary, file=sys.stderr)
    if summary.failed:
        print(
            f"keras-panns evaluate: {summary.failed} files failed; their reasons are in {out}/errors", file=sys.stderr
        )


def _evaluate_folder(folder, fv):
    import shutil
    import tempfile

    if fv.labels is None:
        raise app.UsageError("--folder needs --labels FILE: the labels to evaluate the folder's audio on")
    if fv.index is not None or fv.data is not None:
        raise app.UsageError("give one of --folder, --index and --data")
    out = fv.index_out or tempfile.mkdtemp(prefix="keras-panns-evaluate-")
    try:
        if fv.index_out is None:
            os.rmdir(out)  # the index is made where nothing is
        _index_folder(folder, out, fv)
        return _evaluate_index(out, fv)
    finally:
        if fv.index_out is None:
            shutil.rmtree(out, ignore_errors=True)


def run(args, fv):
    if fv.folder is not None:
        no_arguments(args)
        return _evaluate_folder(fv.folder, fv)
    if fv.index is not None:
        no_arguments(args)
        return _evaluate_index(fv.index, fv)
    if fv.data is None:
        raise app.UsageError("--data must have a value (packed shards), or give --index INDEX to evaluate its labels")
    if fv.format == "csv":
        raise app.UsageError("--format csv is for an INDEX; with --data, --report writes the per-class CSV")
    from keras_panns.training import evaluate

    no_arguments(args)
    model = load_model(fv)
    metrics = evaluate(model, fv.data, batch_size=fv.batch_size, report=fv.report)
    best, worst = metrics.ranked(model.labels, fv.top)
    if fv.format == "json":
        json.dump(
            {"mAP": metrics.mAP, "mAUC": metrics.mAUC, "d_prime": metrics.d_prime, "best": best, "worst": worst},
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    print(metrics.summary())
    if fv.top:
        print("best:  " + "; ".join(f"{label} {ap:.3f}" for label, ap in best))
        print("worst: " + "; ".join(f"{label} {ap:.3f}" for label, ap in worst))
    return 0
