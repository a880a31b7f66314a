"""CPU throughput and size of exported models: Keras vs onnxruntime vs LiteRT, float and int8.

For each model, exports float TFLite, int8 TFLite (calibrated on ESC-10 clips
from ../shared/data), float ONNX and int8 ONNX with `keras_panns.export`, then
times batch-1 inference on a 10-s clip in each runtime in the same process.
Ratios are against the Keras model measured in the same run. Weights are
random (speed does not depend on them), so the agreement columns only show
that the quantized files work; quantization bounds are not enforced here.

Usage:
  python tools/benchmark_export.py [--models cnn6,cnn14,mobilenet_v1] [--repeats 5] [--markdown]
"""

import os
import pathlib
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_list("models", ["cnn6", "cnn14", "mobilenet_v1"], "Zoo names to measure.")
flags.DEFINE_integer("repeats", 5, "Timed runs per runtime (after one warm-up run).")
flags.DEFINE_string("calibration", str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" /
                                       "esc10" / "audio"), "Audio directory for int8 calibration.")
flags.DEFINE_boolean("markdown", False, "Print a Markdown table.")
FLAGS = flags.FLAGS


def _rate(run, clip, repeats):
    run(clip)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(clip)
        times.append(time.perf_counter() - start)
    return 1.0 / float(np.median(times))


def _runner(path):
    if path.endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return lambda x: session.run(["clipwise_output"], {"waveform": x})
    from keras_panns.export.tflite import load_signature

    signature = load_signature(path)
    return lambda x: signature(waveform=x)


def main(argv):
    del argv
    import keras

    import keras_panns
    from keras_panns.export import export_model
    from keras_panns.hub import zoo

    rows = []
    scratch = tempfile.mkdtemp(prefix="keras_panns_export_bench_")
    for name in FLAGS.models:
        card = zoo.get_card(name)
        model = keras_panns.get_architecture(card.architecture)(**card.config)
        clip = np.random.RandomState(0).uniform(-0.5, 0.5, (1, 10 * card.sample_rate)).astype(np.float32)
        keras_rate = _rate(model.predict_on_batch, clip, FLAGS.repeats)
        params_mb = sum(int(np.prod(w.shape)) for w in model.weights) * 4 / 1e6
        rows.append((name, "Keras (TF)", "float32", params_mb, keras_rate, 1.0, None, None))
        for fmt in ("onnx", "tflite"):
            for quantize in ("none", "int8"):
                path = os.path.join(scratch, f"{name}_{quantize}.{fmt}")
                start = time.perf_counter()
                report = export_model(model, path, format=fmt, quantize=quantize, length=10.0,
                                      calibration=FLAGS.calibration if quantize == "int8" else None,
                                      max_calibration_clips=16, max_mean_abs=1.0, min_top5=0.0)
                took = time.perf_counter() - start
                rate = _rate(_runner(path), clip, FLAGS.repeats)
                runtime = "onnxruntime" if fmt == "onnx" else "LiteRT"
                rows.append((name, runtime, "float32" if quantize == "none" else "int8", report.size_bytes / 1e6,
                             rate, rate / keras_rate, report.mean_abs_error.get("clipwise_output"), took))
                print(f"measured {name} {runtime} {quantize}: {rate:.2f} clips/s (export {took:.0f} s)",
                      file=sys.stderr)
                os.remove(path)
        del model
        keras.backend.clear_session()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"# CPU ({os.cpu_count()} cores), batch 1, 10-s clips, median of {FLAGS.repeats}; "
          f"peak RSS {peak_gb:.1f} GB")
    header = ("model", "runtime", "weights", "size MB", "clips/s", "vs Keras", "mean |Δscore|", "export s")
    if FLAGS.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
    for name, runtime, weights, size, rate, ratio, err, took in rows:
        cells = (name, runtime, weights, f"{size:.1f}", f"{rate:.2f}", f"{ratio:.2f}x",
                 "-" if err is None else f"{err:.4f}", "-" if took is None else f"{took:.0f}")
        print(("| " + " | ".join(cells) + " |") if FLAGS.markdown else "  ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    app.run(main)
