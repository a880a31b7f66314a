"""Evaluates a model on packed shards: mAP, mean AUC and d-prime as PANNs reports them.

Runs every clip of --data once, then prints mAP (mean over classes of
average precision, scikit-learn's definition), mean AUC and d', plus the
best and worst classes by AP. --report writes one CSV row per class.

Examples:
  keras-panns evaluate --model cnn14 --data packed/eval --report per_class.csv
  keras-panns evaluate --checkpoint runs/cnn6/model.keras --data packed/eval
"""

import json
import sys

from keras_panns.cli.common import define_model_flags, load_model, no_arguments

USAGE = "--model NAME|--checkpoint PATH --data DIR [--report per_class.csv] [--format text|json]"


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "cnn14", "Zoo name of the model.")
    flags.DEFINE_string("data", None, "Packed evaluation shards.", flag_values=fv)
    flags.mark_flag_as_required("data", flag_values=fv)
    flags.DEFINE_string("report", None, "Per-class CSV report.", flag_values=fv)
    flags.DEFINE_integer("batch_size", 16, "Clips per forward pass.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("top", 5, "Best and worst classes to print.", lower_bound=0, flag_values=fv)
    flags.DEFINE_enum("format", "text", ["text", "json"], "Output format.", flag_values=fv)


def run(args, fv):
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
