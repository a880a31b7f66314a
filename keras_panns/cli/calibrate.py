"""Chooses per-class operating points on an index's labels: thresholds and calibrated scores.

For every class with at least --min_labels positive and negative labels
(added with `keras-panns label`), chooses the threshold on its window scores
that reaches --target (precision=P: the most recall at that precision;
recall=R: the most precision at that recall; f1: the best F1), and a
logistic calibration so that calibrated scores read as probabilities. How
well each threshold holds on labels it was not chosen on is measured by
cross-validation (--folds) and printed with 95% intervals. Other classes
keep --default_threshold and are listed.

With events in the index (`--outputs events`) and span labels (a start and
an end), each class with at least --min_labels labelled events also gets an
event high: the one with the best collar-based event F1 over the index's own
events (sed_scores_eval), its held-out F1 measured on files it was not chosen
on; its low is the index's. `sed`, `listen` and `index --operating_points`
detect that class with them. Index with a low --high (0.1, --low 0.05) to
let calibrate choose among more events. With --choose_low, the low is chosen
too: the index's model (from its manifest, or --checkpoint) runs again over
the files with span labels only, and every low from 0.05 to 0.7 is tried
with every high above it (the held-out F1 measures the pair).

The file records the index's model (weights, classes, runtime, precision);
`tag --operating_points` refuses it for another model. The index needs
per-class scores (`keras-panns index --outputs scores`).

Examples:
  keras-panns calibrate recordings.index --target precision=0.9 --out points.json
  keras-panns calibrate recordings.index --target f1 --min_labels 10 --out points.json --format json
  keras-panns calibrate recordings.index --target recall=0.8 --out points.json --plot points.png
  keras-panns calibrate field.index --target f1 --choose_low --out points.json

--plot draws each class's precision-recall curve on its labels with the
chosen point marked (the 12 classes with the most labels).
"""

import json
import sys

from absl import app

USAGE = "INDEX --target precision=P|recall=R|f1 --out points.json [--min_labels N] [--folds K]"


def define_flags(fv):
    from absl import flags

    from keras_panns.cli.common import define_out_flag

    flags.DEFINE_string("target", "f1", "precision=P, recall=R or f1.", flag_values=fv)
    define_out_flag(fv, "The operating-points JSON file to write.", endings=(".json",), required=True)
    flags.DEFINE_integer(
        "min_labels", 5, "Fewest positives and fewest negatives a class needs.", lower_bound=2, flag_values=fv
    )
    flags.DEFINE_integer("folds", 5, "Cross-validation folds.", lower_bound=2, flag_values=fv)
    flags.DEFINE_float(
        "default_threshold",
        0.5,
        "The threshold of classes without enough labels.",
        lower_bound=0,
        upper_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "choose_low",
        False,
        "Choose each class's event low too, running the index's model over the files with span labels.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "checkpoint", None, "With --choose_low: the index's model, where its manifest does not say.", flag_values=fv
    )
    flags.DEFINE_string("plot", None, "Also draw precision-recall curves and points to this PNG.", flag_values=fv)
    flags.DEFINE_enum(
        "format", "text", ["text", "json"], "What to print: a table, or one record per class.", flag_values=fv
    )


def _table(points):
    lines = [f"{'class':<32} {'pos':>5} {'neg':>5} {'threshold':>9}  held-out precision [95%]   recall [95%]"]
    for name, point in points.classes.items():
        held = point["held_out"]
        p_lo, p_hi = held["precision_ci"]
        r_lo, r_hi = held["recall_ci"]
        mark = "" if point["reached"] else "  (target not reached on the labels)"
        lines.append(
            f"{name[:32]:<32} {point['support']['positives']:>5} {point['support']['negatives']:>5} "
            f"{point['threshold']:>9.3f}  {held['precision']:.2f} [{p_lo:.2f}, {p_hi:.2f}]          "
            f"{held['recall']:.2f} [{r_lo:.2f}, {r_hi:.2f}]{mark}"
        )
    events = {name: point["events"] for name, point in points.classes.items() if point.get("events")}
    if events:
        lines.append("")
        lines.append(f"{'events: class':<32} {'events':>6} {'high':>6} {'low':>6}  held-out collar F1 (P / R)")
        for name, point in events.items():
            held = point["held_out"]
            lines.append(
                f"{name[:32]:<32} {point['support']['events']:>6} {point['high']:>6.3f} {point['low']:>6.3f}  "
                f"{held['f1']:.2f} ({held['precision']:.2f} / {held['recall']:.2f})"
            )
    return "\n".join(lines)


def _framewise(index, checkpoint):
    """`calibrate_index`'s framewise callable: the index's model over the files with span labels, with a bar."""

    def score(paths):
        from tqdm import tqdm

        from keras_panns.search.labelled_events import framewise_scores

        with tqdm(total=len(paths), desc="framewise scores", unit="file", file=sys.stderr) as bar:
            return framewise_scores(index, paths, checkpoint, progress=lambda done, _: bar.update(done - bar.n))

    return score


def run(args, fv):
    from keras_panns.search import Index
    from keras_panns.search.labelled import calibrate_index

    if len(args) != 1:
        raise app.UsageError("give one INDEX directory" if not args else f"one INDEX only, got {' '.join(args)}")
    index = Index(args[0])
    try:
        points = calibrate_index(
            index,
            fv.target,
            min_labels=fv.min_labels,
            folds=fv.folds,
            default_threshold=fv.default_threshold,
            framewise=_framewise(index, fv.checkpoint) if fv.choose_low else None,
        )
    except ValueError as exc:
        raise app.UsageError(str(exc)) from exc
    points.save(fv.out)
    if fv.plot:
        from keras_panns.plotting import plot_operating_points
        from keras_panns.search.labelled import labelled_examples

        drawn = plot_operating_points(labelled_examples(Index(args[0])), points, fv.plot)
        print(f"wrote {fv.plot}: precision-recall of {len(drawn)} classes", file=sys.stderr)
    if fv.format == "json":
        records = [
            {
                "name": name,
                **point["support"],
                "threshold": point["threshold"],
                **point["held_out"],
                **({"events": point["events"]} if point.get("events") else {}),
            }
            for name, point in points.classes.items()
        ]
        json.dump(
            {"target": points.target, "classes": records, "too_few_labels": points.too_few_labels}, sys.stdout, indent=2
        )
        print()
    else:
        print(_table(points))
    if points.too_few_labels:
        shown = ", ".join(points.too_few_labels[:10]) + (" ..." if len(points.too_few_labels) > 10 else "")
        print(
            f"keras-panns: {len(points.too_few_labels)} classes have fewer than {fv.min_labels} positive or negative "
            f"labels and keep the threshold {fv.default_threshold:g}: {shown}",
            file=sys.stderr,
        )
    if points.too_few_events:
        print(
            f"keras-panns: {len(points.too_few_events)} classes have fewer than {fv.min_labels} labelled events, "
            "or no detected event within the collar of one at any --high, and keep the event --high and --low: "
            f"{', '.join(points.too_few_events[:10])}",
            file=sys.stderr,
        )
    print(
        f"wrote {fv.out}: operating points of {len(points.classes)} classes (target {points.target})", file=sys.stderr
    )
    return 0
