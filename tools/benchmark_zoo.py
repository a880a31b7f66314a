"""CPU inference throughput of every zoo architecture (batch 1, 10-s clips).

Prints trainable parameters (Keras model), the paper's GFLOPs per 10-s clip,
clips/s and the ratio to keras_panns Cnn14 measured in the same run (the
baseline). Weights are random: throughput does not depend on them.

Usage:
  python tools/benchmark_zoo.py [--repeats 3] [--models cnn6,cnn14] [--markdown]
"""

import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("repeats", 3, "Timed runs per model (after one warm-up run).")
flags.DEFINE_list("models", [], "Zoo names to measure (default: every default card, plus cnn14).")
flags.DEFINE_boolean("markdown", False, "Print a Markdown table.")
FLAGS = flags.FLAGS


def _clips_per_second(model, clip, repeats):
    model.predict_on_batch(clip)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(clip)
        times.append(time.perf_counter() - start)
    return 1.0 / float(np.median(times))


def main(argv):
    del argv
    import keras

    import keras_panns
    from keras_panns.hub import zoo

    names = FLAGS.models or sorted(n for n in zoo.list_models() if zoo.get_card(n).default)
    if "cnn14" not in names:
        names = ["cnn14"] + names
    rows = []
    for name in names:
        card = zoo.get_card(name)
        model = keras_panns.get_architecture(card.architecture)(**card.config)
        clip = np.random.RandomState(0).uniform(-0.5, 0.5, (1, 10 * card.sample_rate)).astype(np.float32)
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        rate = _clips_per_second(model, clip, FLAGS.repeats)
        rows.append((name, card.architecture, params, card.multi_adds_g, card.metrics.get("mAP"), rate))
        print(f"measured {name}: {rate:.2f} clips/s", file=sys.stderr)
        del model
        keras.backend.clear_session()
    base = dict((r[0], r[5]) for r in rows)["cnn14"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"# CPU, batch 1, 10-s clips, median of {FLAGS.repeats}; keras {keras.__version__} "
        f"({keras.backend.backend()}), {os.cpu_count()} CPUs; peak RSS {peak_mb:.0f} MB; "
        f"ratio = clips/s / keras_panns Cnn14 clips/s"
    )
    if FLAGS.markdown:
        print(
            "| name | architecture | params | GFLOPs (paper) | mAP | clips/s | vs Cnn14 |\n"
            "|---|---|---|---|---|---|---|"
        )
        for name, arch, params, gflops, m_ap, rate in rows:
            g = f"{gflops:.2f}" if gflops else "-"
            print(f"| {name} | {arch} | {params:,} | {g} | {m_ap:.3f} | {rate:.2f} | {rate / base:.2f}x |")
    else:
        for name, arch, params, gflops, m_ap, rate in rows:
            print(
                f"{name:<26} {arch:<24} {params:>12,} {gflops or 0:>7.2f} {m_ap:>6.3f} {rate:>7.2f} "
                f"{rate / base:>6.2f}x"
            )


if __name__ == "__main__":
    app.run(main)
