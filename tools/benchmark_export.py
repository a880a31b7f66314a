"""CPU throughput of exported PANNs: PyTorch eager vs Keras vs onnxruntime vs LiteRT, float and int8.

Every measurement runs in its own process (two frameworks' thread pools in
one process slow each other down), with every core unless --threads says
otherwise. For each model the files are exported once with
`keras_panns.export` (int8 calibrated on ESC-10 clips from ../shared/data),
then each runtime times batch-1 inference on one 10-s clip. The baseline is
the PyTorch reference Cnn14 of `panns-inference` in eager mode
(`torch.no_grad`), measured in the same run; the Keras rows at batch 8 use
XLA (`jit_compile=True`); the Keras rows run with TensorFlow's oneDNN kernels
(its default) and without them (`TF_ENABLE_ONEDNN_OPTS=0`). Every runtime gets the golden fixture's weights
(keras_panns.testing.golden, the same state dict for PyTorch): with freshly
initialised weights PyTorch ran about 2x slower here (likely denormal
activations), which a benchmark of realistic networks must not measure.

Usage:
  python tools/benchmark_export.py [--models cnn14,mobilenet_v1] [--repeats 5] [--threads 0] [--markdown]
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_list("models", ["cnn14", "mobilenet_v1"], "Zoo names to measure.")
flags.DEFINE_integer("repeats", 5, "Timed runs per measurement (after one warm-up run).")
flags.DEFINE_integer("threads", 0, "Threads per runtime (0: every core).")
flags.DEFINE_list("quantize", ["none", "int8"], "Weights to export: none, int8, dynamic, float16.")
flags.DEFINE_string(
    "calibration",
    str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esc10" / "audio"),
    "Audio directory for int8 calibration.",
)
flags.DEFINE_boolean("markdown", False, "Print a Markdown table.")
flags.DEFINE_string("worker", None, "Internal: run one measurement (export, torch, keras, onnx, tflite).")
flags.DEFINE_string("model", None, "Internal: the worker's zoo name.")
flags.DEFINE_string("path", None, "Internal: the worker's file.")
flags.DEFINE_integer("batch", 1, "Internal: the worker's batch size.")
flags.DEFINE_string("options", "{}", "Internal: the export worker's options (JSON).")
flags.DEFINE_boolean("xla", False, "Internal: the Keras worker compiles its forward with XLA.")
FLAGS = flags.FLAGS
# TensorFlow's oneDNN kernels (on by default on x86) made Cnn14 inference 2.5x slower on this project's
# Sapphire Rapids CPU; the variable must be set before tensorflow is imported, hence a process of its own.
ONEDNN_OFF = {"TF_ENABLE_ONEDNN_OPTS": "0"}


def _clip(batch, sample_rate):
    return np.random.RandomState(0).uniform(-0.5, 0.5, (batch, 10 * sample_rate)).astype(np.float32)


def _rate(run, batch, repeats):
    run()  # warm-up: tracing, compilation, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def _worker():
    """One measurement in this process; prints one JSON line."""
    threads = FLAGS.threads or None
    if FLAGS.worker == "torch":
        import torch

        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        from reference_models import reference_cnn14

        if threads:
            torch.set_num_threads(threads)
        from keras_panns.testing import golden

        model = reference_cnn14()
        # The golden rule draws every weight but the front end's fixed DFT and mel tensors; those are taken
        # from torchlibrosa itself, so this process never imports Keras and TensorFlow.
        own = {
            k: v.numpy()
            for k, v in model.state_dict().items()
            if k.startswith(("spectrogram_extractor.", "logmel_extractor."))
        }
        state = golden.synthetic_state_dict(golden.load_spec("Cnn14"), own)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        x = torch.from_numpy(_clip(FLAGS.batch, 32000))

        def run():
            with torch.no_grad():
                model(x)

        return {
            "rate": _rate(run, FLAGS.batch, FLAGS.repeats),
            "threads": torch.get_num_threads(),
            "tensorflow_loaded": "tensorflow" in sys.modules,
        }
    if FLAGS.worker in ("keras", "export"):
        from keras_panns.hub import zoo
        from keras_panns.testing import golden

        card = zoo.get_card(FLAGS.model)
        model = golden.fixture_model(card.architecture)
        if FLAGS.worker == "export":
            from keras_panns.export import export_model

            options = json.loads(FLAGS.options)
            calibration = FLAGS.calibration if options.get("quantize") == "int8" else None
            report = export_model(
                model,
                FLAGS.path,
                length=10.0,
                calibration=calibration,
                threads=threads,
                max_calibration_clips=16,
                max_mean_abs=1.0,
                min_top5=0.0,
                **options,
            )
            return {
                "size_mb": report.size_bytes / 1e6,
                "front_end": report.front_end,
                "error": report.mean_abs_error.get("clipwise_output"),
            }
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        x = _clip(FLAGS.batch, card.sample_rate)
        if FLAGS.xla:
            forward = tf.function(lambda w: model(w, training=False), jit_compile=True)
            return {"rate": _rate(lambda: forward(x), FLAGS.batch, FLAGS.repeats)}
        return {"rate": _rate(lambda: model.predict_on_batch(x), FLAGS.batch, FLAGS.repeats)}
    from keras_panns.hub import zoo

    x = _clip(FLAGS.batch, zoo.get_card(FLAGS.model).sample_rate)
    if FLAGS.worker == "onnx":
        from keras_panns.runtimes.sessions import load_session

        session = load_session(FLAGS.path, threads)
        return {"rate": _rate(lambda: session.run(["clipwise_output"], {"waveform": x}), FLAGS.batch, FLAGS.repeats)}
    from keras_panns.runtimes.sessions import load_signature

    signature = load_signature(FLAGS.path, threads)
    return {"rate": _rate(lambda: signature(waveform=x), FLAGS.batch, FLAGS.repeats)}


def _measure(worker, environment=None, **flags_):
    command = [
        sys.executable,
        __file__,
        f"--worker={worker}",
        f"--repeats={FLAGS.repeats}",
        f"--threads={FLAGS.threads}",
        f"--calibration={FLAGS.calibration}",
    ]
    command += [f"--{key}={value}" for key, value in flags_.items()]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(environment or {})})
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{worker} {flags_} failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv):
    del argv
    if FLAGS.worker:
        print(json.dumps(_worker()))
        return
    from keras_panns.hub import zoo
    from keras_panns.runtimes.threads import resolve_threads

    scratch = tempfile.mkdtemp(prefix="keras_panns_export_bench_")
    rows = []

    def add(model, runtime, weights, front_end, size, result, batch=1):
        rows.append((model, runtime, weights, front_end, size, batch, result["rate"]))
        print(f"measured {model} {runtime} {weights} batch {batch}: {result['rate']:.2f} clips/s", file=sys.stderr)

    baseline = {}
    for batch in (1, 8):
        baseline[batch] = _measure("torch", batch=batch)["rate"]
        add("cnn14", "PyTorch eager (panns-inference)", "float32", "conv", 327.4, {"rate": baseline[batch]}, batch)
    for name in FLAGS.models:
        card = zoo.get_card(name)
        size = card.params * 4 / 1e6 if card.params else float("nan")
        for label, environment in (("", None), (", oneDNN off", ONEDNN_OFF)):
            add(name, f"Keras (TF{label})", "float32", "conv", size, _measure("keras", environment, model=name))
            add(
                name,
                f"Keras (TF, XLA{label})",
                "float32",
                "conv",
                size,
                _measure("keras", environment, model=name, batch=8, xla=True),
                8,
            )
        for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "LiteRT")):
            for quantize in FLAGS.quantize:
                if fmt == "onnx" and quantize == "float16":
                    continue
                path = os.path.join(scratch, f"{name}_{quantize}.{fmt}")
                report = _measure(
                    "export", model=name, path=path, options=json.dumps({"format": fmt, "quantize": quantize})
                )
                result = _measure(fmt, model=name, path=path)
                add(
                    name,
                    runtime,
                    "float32" if quantize == "none" else quantize,
                    report["front_end"],
                    report["size_mb"],
                    result,
                )
                os.remove(path)
    print(
        f"# CPU: {os.cpu_count()} cores, {resolve_threads(FLAGS.threads or None)} threads per runtime, each "
        f"measurement in its own process; 10-s clips, median of {FLAGS.repeats}; baseline: PyTorch eager Cnn14 "
        f"at the same batch ({baseline[1]:.2f} clips/s at batch 1)"
    )
    header = ("model", "runtime", "weights", "front end", "size MB", "batch", "clips/s", "vs PyTorch Cnn14")
    if FLAGS.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
    for name, runtime, weights, front_end, size, batch, rate in rows:
        cells = (
            name,
            runtime,
            weights,
            front_end,
            f"{size:.1f}",
            str(batch),
            f"{rate:.2f}",
            f"{rate / baseline[batch]:.2f}x",
        )
        print(("| " + " | ".join(cells) + " |") if FLAGS.markdown else "  ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    app.run(main)
