"""Detects sound events (what happened, from when to when) with a SED model.

Runs a sound-event-detection model (default: Cnn14_DecisionLevelMax) over
each file (a directory means the audio files in it; --recursive: also in
its subdirectories) in overlapping windows read from disk one batch at a time, so
recordings of hours use bounded memory. Frame scores where windows overlap
are averaged, optionally median-smoothed, then turned into events by
hysteresis: an event starts where a class scores at least --high and lasts
while it stays at least --low.

Events go to stdout as a table, or to --out as CSV or JSON (by extension),
with one row per event: file, onset, offset (seconds), label, class index and
peak score. A Cnn14 tagging checkpoint (e.g. --model cnn14_16k) runs its
decision-level forward: framewise scores from tagging weights, so SED works
at 16 and 8 kHz too, though it is not a trained SED head. --plot draws the
log-mel spectrogram above the top-k classes' scores over time (PNG); with
several files, --plot names a directory that gets one <file stem>.png each.
--group keeps the events (and plotted classes) of AudioSet ontology groups.

Examples:
  keras-panns sed street.wav
  keras-panns sed --out events.csv --plot street.png street.wav
  keras-panns sed --window 10 --hop 2 --high 0.3 --low 0.1 --median 9 --out events.json recordings/*.flac
"""

import csv
import json
import os
import pathlib
import sys

from absl import app

from keras_panns.atomic import atomic_write
from keras_panns.cli.common import (
    audio_arguments,
    check_audioset_model,
    define_event_flags,
    define_group_flags,
    define_input_flags,
    define_model_flags,
    define_out_flag,
    define_runtime_flags,
    event_thresholds,
    frame_scoring_model,
    group_classes,
    load_model,
    report_file_error,
    runtime_runner,
)

USAGE = (
    "[--model NAME | --checkpoint PATH] [--out events.csv|.json] [--plot out.png] [--window S] [--hop S] FILE_OR_DIR..."
)


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "cnn14_decision_level_max", "Zoo name of a SED model.")
    define_input_flags(fv)
    define_runtime_flags(fv)
    define_out_flag(fv, "Write events here: .csv or .json (default: a table on stdout).", endings=(".csv", ".json"))
    flags.DEFINE_string(
        "plot", None, "PNG of log-mel and top-k activity (a directory with several files).", flag_values=fv
    )
    flags.DEFINE_integer("top_k", 5, "Classes drawn in the plot.", lower_bound=1, flag_values=fv)
    flags.DEFINE_float(
        "window", 10.0, "Window length in seconds (PANNs were trained on 10 s).", lower_bound=0.5, flag_values=fv
    )
    flags.DEFINE_float("hop", 5.0, "Step between windows in seconds.", lower_bound=0.01, flag_values=fv)
    define_event_flags(fv)
    define_group_flags(fv)
    flags.DEFINE_integer("batch_size", 4, "Windows per forward pass.", lower_bound=1, flag_values=fv)


def _plot_path(fv, path, several):
    if not several:
        return fv.plot
    os.makedirs(fv.plot, exist_ok=True)
    return os.path.join(fv.plot, pathlib.Path(path).stem + ".png")


def _write(records, out):
    with atomic_write(out, newline="") as f:
        if out.lower().endswith(".json"):
            json.dump(records, f, indent=2)
            f.write("\n")
        else:
            writer = csv.DictWriter(f, ["file", "onset", "offset", "label", "index", "score"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)


def run(args, fv):
    from keras_panns.errors import PANNsError

    files = audio_arguments(args, fv)
    classes = group_classes(fv)
    classes = None if classes is None else set(classes)
    model = _framewise_model(fv, classes)
    thresholds = event_thresholds(fv, model)
    runner = runtime_runner(model, fv)
    records, failures = [], 0
    for path in files:
        try:
            result = _detect(model, path, fv, runner, thresholds)
        except (PANNsError, ValueError) as exc:
            failures += 1
            report_file_error("sed", path, exc)
            continue
        # Events are found class by class, so keeping a group's events equals detecting only that group.
        rows = [
            {"file": path, **event.to_dict()} for event in result.events if classes is None or event.index in classes
        ]
        records.extend(rows)
        if fv.plot:
            _plot(result, model, path, fv, classes, several=len(files) > 1)
        if not fv.out:
            print(f"{path}  ({result.duration:.1f} s, {len(rows)} events)")
            for row in rows:
                print(f"  {row['onset']:9.2f} {row['offset']:9.2f}  {row['score']:.3f}  {row['label']}")
    if fv.out:
        _write(records, fv.out)
    if failures:
        print(f"keras-panns sed: {failures} of {len(files)} files failed", file=sys.stderr)
    return 1 if failures else 0


def _framewise_model(fv, classes):
    """The flags' model, as a model with framewise output (a Cnn14 tagger: its decision-level forward)."""
    model = load_model(fv)
    check_audioset_model(model, classes)
    model = frame_scoring_model(model, "sed")
    if "framewise_output" not in model.output:
        raise app.UsageError(
            f"{model.name} is a tagging model without framewise output; use a SED model such as "
            "cnn14_decision_level_max, or a Cnn14 checkpoint (its decision-level forward)"
        )
    return model


def _detect(model, path, fv, runner, thresholds):
    from keras_panns.long_audio import detect_events_long

    return detect_events_long(
        model,
        path,
        window_seconds=fv.window,
        hop_seconds=fv.hop,
        batch_size=fv.batch_size,
        high=thresholds[0],
        low=thresholds[1],
        median_window=fv.median,
        min_duration=fv.min_duration,
        overview=bool(fv.plot),
        runtime=runner,
    )


def _plot(result, model, path, fv, classes, *, several):
    from keras_panns.plotting import plot_sed

    plot_sed(
        result.overview,
        model.labels,
        _plot_path(fv, path, several),
        top_k=fv.top_k,
        threshold=fv.high,
        title=os.path.basename(path),
        classes=classes,
    )
