"""Why Keras-on-TensorFlow runs slowly at batch 1 with oneDNN on: variables against frozen constants.

Each configuration runs in its own process (oneDNN is chosen when TensorFlow is imported) with the golden
fixture's weights, a 10-s random clip at batch 1, after two warm-up calls:

- `predict_on_batch`: the path every inference command takes today;
- `frozen`: the same model's forward as a concrete function whose variables were folded into constants
  (`convert_variables_to_constants_v2`), so oneDNN can reorder each filter once and cache it instead of on
  every call;

each with oneDNN on (TensorFlow's x86 default) and off (`TF_ENABLE_ONEDNN_OPTS=0`), and both DFT front ends.
It prints the CPU's matrix-engine flags and clips/s per row, and the ratio to the default path.

Example:
  python tools/benchmark_onednn.py --models Cnn14,Cnn6 --repeats 5
"""

import json
import os
import subprocess
import sys
import time

from absl import app, flags

MODELS = flags.DEFINE_string("models", "Cnn14", "Comma-separated architectures (golden fixture names).")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per configuration.")
WORKER = flags.DEFINE_string("worker", None, "Internal: run one configuration as JSON and print clips/s.")


def _run_worker(config):
    import numpy as np
    import tensorflow as tf

    from keras_panns.layers import set_dft
    from keras_panns.testing import golden

    model = golden.fixture_model(config["model"])
    set_dft(model, config["dft"])
    x = np.random.RandomState(0).randn(1, 320000).astype("float32") * 0.1
    if config["path"] == "frozen":
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        function = tf.function(lambda a: model(a, training=False)).get_concrete_function(
            tf.TensorSpec([None, None], tf.float32)
        )
        frozen = convert_variables_to_constants_v2(function)
        call = lambda: frozen(tf.constant(x))  # noqa: E731
    else:
        call = lambda: model.predict_on_batch(x)  # noqa: E731
    for _ in range(2):
        call()
    start = time.perf_counter()
    for _ in range(config["repeats"]):
        call()
    print(json.dumps({"clips_per_s": config["repeats"] / (time.perf_counter() - start)}))


def _measure(config, onednn):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    if not onednn:
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(config)], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["clips_per_s"]


def main(argv):
    del argv
    if WORKER.value:
        _run_worker(json.loads(WORKER.value))
        return
    from keras_panns.runtimes.cpu import MATRIX_FLAGS, cpu_info, matrix_flags
    from keras_panns.runtimes.threads import available_cores

    name, present = cpu_info()[0], matrix_flags()
    print(f"CPU: {name}; {available_cores()} cores; flags: {' '.join(present) or 'none of ' + ' '.join(MATRIX_FLAGS)}")
    print(f"{'model':<8} {'dft':<5} {'path':<17} {'oneDNN':<7} {'clips/s':>8} {'vs default':>10}")
    for model in MODELS.value.split(","):
        baseline = None
        for dft in ("conv", "fft"):
            for path in ("predict_on_batch", "frozen"):
                for onednn in (True, False):
                    rate = _measure({"model": model, "dft": dft, "path": path, "repeats": REPEATS.value}, onednn)
                    baseline = baseline or rate  # the first row is today's default: conv, predict_on_batch, oneDNN on
                    print(
                        f"{model:<8} {dft:<5} {path:<17} {'on' if onednn else 'off':<7} {rate:8.2f} "
                        f"{rate / baseline:9.2f}x",
                        flush=True,
                    )


if __name__ == "__main__":
    app.run(main)
