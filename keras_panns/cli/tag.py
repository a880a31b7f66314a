"""Tags audio files with a pretrained PANNs model.

Prints the top-k AudioSet labels of each file. Files are decoded with
soundfile (or librosa for mp3 and the like), mixed to mono and resampled to
the model's rate. A directory argument means the audio files in it
(--recursive: also in its subdirectories). The model is loaded once and
files of equal length are batched. A file that cannot be tagged
(unreadable, empty, NaN, too short) is reported on stderr and the others go
on; the exit status is then 1.

Examples:
  keras-panns tag speech.wav
  keras-panns tag --model cnn14_16k --top_k 3 clips/*.wav
  keras-panns tag --recursive --format json --out tags.json recordings/
  keras-panns tag --group Vehicle --group_scores street.wav        # vehicle classes only, plus "any vehicle?"
  keras-panns tag --checkpoint ~/Downloads/Cnn14_mAP=0.431.pth a.wav
  keras-panns tag --operating_points points.json --calibrated clips/  # classes over their own thresholds

With --operating_points (a file from `keras-panns calibrate`, made on an index
of the same model), each file's tags are every class at or above its own
threshold instead of the top-k; --calibrated prints calibrated scores.
"""

import json
import os
import sys

from keras_panns.cli.common import (
    audio_arguments,
    check_audioset_model,
    compiled_model,
    define_group_flags,
    define_input_flags,
    define_model_flags,
    define_operating_points_flag,
    define_out_flag,
    define_runtime_flags,
    group_classes,
    load_model,
    operating_points,
    record_compiled,
    runtime_runner,
)

USAGE = "[--model NAME | --checkpoint PATH_OR_URL] [--top_k K] [--format text|json] [--out FILE] FILE_OR_DIR..."


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "cnn14", "Zoo name of the model (see 'keras-panns models').")
    define_input_flags(fv)
    flags.DEFINE_integer("top_k", 5, "Labels to print per file.", lower_bound=1, flag_values=fv)
    flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.", flag_values=fv)
    define_group_flags(fv)
    flags.DEFINE_boolean(
        "group_scores", False, "Also print each --group's score: the maximum over its classes.", flag_values=fv
    )
    flags.DEFINE_integer("batch_size", 8, "Clips per forward pass.", lower_bound=1, flag_values=fv)
    define_operating_points_flag(fv, "tag every class over its own threshold.")
    flags.DEFINE_boolean(
        "calibrated", False, "With --operating_points: print calibrated scores (probabilities).", flag_values=fv
    )
    define_runtime_flags(fv)
    define_out_flag(fv, "Write the results to this file (complete or not at all) instead of stdout.")
    flags.DEFINE_boolean(
        "progress", None, "Show a progress bar (default: when tagging several files from a terminal).", flag_values=fv
    )


def _print_text(result, groups, out):
    if result.error is not None:
        return
    print(result.source, file=out)
    for label, score in result.tags:
        print(f"  {score:.3f}  {label}", file=out)
    for group, score in groups.items():
        print(f"  {score:.3f}  [group] {group}", file=out)


def run(args, fv):
    from absl import app

    from keras_panns.inference import iter_tags
    from keras_panns.labels import group_scores

    files = audio_arguments(args, fv)
    classes = group_classes(fv)
    if fv.calibrated and not fv.operating_points:
        raise app.UsageError("--calibrated needs --operating_points (a file from keras-panns calibrate)")
    points = operating_points(fv)  # checked against the model by iter_tags
    # A model compiled by an earlier run with these flags runs without Keras; else it is loaded and built.
    found = compiled_model(fv)
    model = found[0] if found else load_model(fv)
    check_audioset_model(model, classes)
    if found:
        runner = found[1]
    else:
        runner = runtime_runner(model, fv)
        record_compiled(model, runner, fv)
    progress = fv.progress if fv.progress is not None else (len(files) > 1 and sys.stderr.isatty())
    out = open(fv.out + ".partial", "w", encoding="utf-8") if fv.out else sys.stdout
    failures, records = 0, []
    try:
        for result in iter_tags(
            model,
            files,
            top_k=fv.top_k,
            batch_size=fv.batch_size,
            progress=progress,
            classes=classes,
            runtime=runner,
            operating_points=points,
            calibrated=fv.calibrated,
        ):
            groups = {}
            if fv.group_scores and result.error is None:
                groups = {g: round(float(s), 6) for g, s in group_scores(result.scores, fv.group).items()}
            if result.error is not None:
                failures += 1
                print(f"keras-panns tag: {result.error}", file=sys.stderr)
            if fv.format == "json":
                records.append({**result.to_dict(), **({"groups": groups} if groups else {})})
            else:
                _print_text(result, groups, out)
        if fv.format == "json":
            json.dump({"model": model.card.name if model.card else model.name, "results": records}, out, indent=2)
            out.write("\n")
    except BaseException:
        if out is not sys.stdout:  # an interrupted run leaves no half-written --out behind
            out.close()
            os.remove(fv.out + ".partial")
        raise
    if out is not sys.stdout:
        out.close()
        os.replace(fv.out + ".partial", fv.out)
    if failures:
        print(f"keras-panns tag: {failures} of {len(files)} files failed", file=sys.stderr)
    return 1 if failures else 0
