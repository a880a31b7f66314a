"""One GPU check of keras_panns: Cnn14 training and inference speed on TF+XLA, JAX and PyTorch, MFU, the input pipeline.

Each measurement runs in its own process (one framework per process) and
prints one JSON line; this script collects them into
`benchmarks/gpu_check_<device>_<date>.json` and a Markdown table beside it.

Measured, Cnn14 on 10-s 32 kHz clips:
- training with PANNs' feature mixup (2B clips in, B mixed clips to the loss),
  Adam amsgrad, BCE, at batch 32 and at the largest batch that fits (doubling
  from 32 until the device runs out of memory): keras TF backend with XLA and
  mixed_bfloat16, keras JAX backend with mixed_bfloat16, and the PyTorch
  reference (panns-inference) with bfloat16 autocast, channels-last and
  `torch.compile` (eager where compiling fails; the row says which);
- MFU: training FLOP/s (3x the paper's 42.2 forward GFLOPs per clip) against
  the bf16 matmul rate of a large GEMM measured in this run;
- inference clips/s at batch 256 (keras TF+XLA and JAX, bf16);
- the tf.data pipeline (`keras_panns.data.make_dataset`, balanced sampling) in
  clips read per second on this machine's cores, with and without feature mixup,
  over shards packed from synthetic audio;
- peak device memory of each run.

`--smoke` runs exactly the same code at toy sizes (1-s 8 kHz clips, batch 2,
a 256x256 matmul) on the CPU, in about three minutes on 2 cores (one with
`--notorch_compile`); a test runs it.

Usage:
  python tools/gpu_check.py [--out_dir benchmarks] [--smoke] [--notorch_compile]
"""

import datetime
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("out_dir", "benchmarks", "Where the JSON and Markdown files go.")
flags.DEFINE_boolean("smoke", False, "Toy sizes on the CPU (checks the script, measures nothing useful).")
flags.DEFINE_integer("steps", 10, "Timed training steps per measurement (after warm-up).")
flags.DEFINE_integer("max_batch", 1024, "Largest training batch tried.")
flags.DEFINE_integer("timeout", 420, "Seconds allowed to each measurement process.")
flags.DEFINE_boolean("torch_compile", True, "torch.compile the PyTorch reference (eager where it fails).")
flags.DEFINE_list(
    "only",
    None,
    "Run only these sections (matmul, inference, keras_tf_train, keras_jax_train, "
    "torch_train, pipeline), updating the day's report if one is in --out_dir.",
)
flags.DEFINE_string("worker", None, "Internal: run one measurement.")
flags.DEFINE_string("args", "{}", "Internal: the worker's arguments (JSON).")
FLAGS = flags.FLAGS

TOOLS = os.path.dirname(os.path.abspath(__file__))
CNN14_TRAINING_GFLOP = 3 * 42.22  # per mixed clip: forward + backward ~ 3x the paper's forward multiply-adds


def sizes(smoke):
    """Clip and problem sizes: the real ones, or toy ones for --smoke."""
    if smoke:
        return {
            "sample_rate": 8000,
            "seconds": 1,
            "config": {
                "sample_rate": 8000,
                "window_size": 256,
                "hop_size": 80,
                "mel_bins": 64,
                "fmin": 50,
                "fmax": 4000,
            },
            "batches": [2],
            "infer_batch": 2,
            "matmul": 256,
            "pipeline_clips": 32,
            "pipeline_batches": 8,
        }
    return {
        "sample_rate": 32000,
        "seconds": 10,
        "config": {},
        "batches": [32],
        "infer_batch": 256,
        "matmul": 8192,
        "pipeline_clips": 2048,
        "pipeline_batches": 200,
    }


def _batch(size, clips, classes=527, seed=0):
    """`(2 * clips` waveforms, their mixup weights, `clips` targets`)`: one feature-mixup training batch."""
    import numpy as np

    rng = np.random.RandomState(seed)
    samples = size["sample_rate"] * size["seconds"]
    x = rng.uniform(-0.5, 0.5, (2 * clips, samples)).astype(np.float32)
    y = (rng.rand(clips, classes) < 0.01).astype(np.float32)
    pair = rng.beta(1.0, 1.0, clips).astype(np.float32)
    lam = np.stack([pair, 1 - pair], axis=1).reshape(-1)
    return x, lam, y


def _peak_memory_gb():
    # Only a process that already runs Keras asks its backend; importing keras here would start TensorFlow
    # inside the PyTorch measurement.
    backend = sys.modules["keras"].backend.backend() if "keras" in sys.modules else None
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 1e9
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return stats["peak_bytes_in_use"] / 1e9
    except (RuntimeError, ValueError, KeyError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # host RSS on the CPU


class _EpochTimer:
    """Wall time of each `fit` epoch (one epoch = the timed steps, host sync only at its end)."""

    def __init__(self):
        import keras

        outer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.seconds.append(time.perf_counter() - outer.start)

        self.seconds, self.callback = [], Callback()


def keras_train(smoke, batch, steps):
    """Cnn14 + feature mixup under `fit` with mixed_bfloat16 and XLA; mixed clips/s of the second epoch."""
    import keras

    import keras_panns
    from keras_panns.training import with_feature_mixup

    size = sizes(smoke)
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = with_feature_mixup(keras_panns.Cnn14(**size["config"]))
    model.compile(
        keras.optimizers.Adam(1e-3, amsgrad=True),
        loss={"clipwise_output": "binary_crossentropy"},
        jit_compile=True,
        steps_per_execution=steps,
    )
    x, lam, y = _batch(size, batch)
    example = ({"waveform": x, "mixup_lambda": lam}, {"clipwise_output": y})
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensors(example).repeat().prefetch(2)
    else:  # JAX without TensorFlow installed (a GPU machine's image): the same batch from Python
        data = (example for _ in itertools.count())
    timer = _EpochTimer()
    model.fit(data, epochs=2, steps_per_epoch=steps, verbose=0, callbacks=[timer.callback])
    return {
        "clips_per_s": batch * steps / timer.seconds[-1],
        "peak_memory_gb": _peak_memory_gb(),
        "compile_and_first_epoch_s": timer.seconds[0],
    }


def keras_infer(smoke, batch, steps):
    """Cnn14 clip scores at `batch` with mixed_bfloat16 (the front end stays float32), XLA-compiled."""
    import keras
    import numpy as np

    import keras_panns

    size = sizes(smoke)
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras_panns.Cnn14(**size["config"])
    model.compile(jit_compile=True)
    x = np.random.RandomState(0).uniform(-0.5, 0.5, (batch, size["sample_rate"] * size["seconds"]))
    x = x.astype(np.float32)
    model.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(steps):
        out = model.predict_on_batch(x)
    np.asarray(out["clipwise_output"])
    return {"clips_per_s": batch * steps / (time.perf_counter() - start), "peak_memory_gb": _peak_memory_gb()}


def torch_train(smoke, batch, steps, compile=True):
    """The PyTorch reference Cnn14 with bf16 autocast, channels-last and torch.compile (eager if that fails)."""
    import torch

    sys.path.insert(0, TOOLS)
    from reference_models import reference_cnn14

    size = sizes(smoke)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = reference_cnn14(**size["config"]).to(device).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    x, lam, y = (torch.from_numpy(a).to(device) for a in _batch(size, batch))
    forward, mode = model, "eager"
    if compile:
        try:
            forward, mode = torch.compile(model), "torch.compile"
        except Exception:  # noqa: BLE001 (any failure to compile means eager)
            pass

    def step(run):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            scores = run(x, lam)["clipwise_output"]
        loss = torch.nn.functional.binary_cross_entropy(scores.float(), y)
        loss.backward()
        optimizer.step()

    try:
        step(forward)
    except Exception:  # noqa: BLE001 (inductor may fail at the first call, not at torch.compile)
        forward, mode = model, "eager"
        step(forward)

    def timed():
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step(forward)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed()
    seconds = timed()
    peak = torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else _peak_memory_gb()
    return {"clips_per_s": batch * steps / seconds, "peak_memory_gb": peak, "mode": mode}


def matmul(smoke, n, steps):
    """bf16 GEMM rate, the MFU denominator (PyTorch on the GPU, else on the CPU)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(2):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return {"tflops": 2 * n**3 * steps / (time.perf_counter() - start) / 1e12, "n": n}


def pipeline(smoke, batch, steps):
    """Clips read per second by the balanced tf.data pipeline, without and with feature mixup."""
    import numpy as np
    import soundfile

    from keras_panns.data import Example, make_dataset, pack

    size = sizes(smoke)
    rate, seconds = size["sample_rate"], size["seconds"]
    scratch = tempfile.mkdtemp(prefix="gpu_check_pipeline_")
    rng = np.random.RandomState(0)
    examples = []
    for i in range(size["pipeline_clips"]):
        path = os.path.join(scratch, f"clip{i}.wav")
        soundfile.write(path, (0.1 * rng.randn(rate * seconds)).astype(np.float32), rate, subtype="PCM_16")
        examples.append(Example(f"clip{i}", path, (i % 527,)))
    packed = os.path.join(scratch, "packed")
    pack(
        examples,
        packed,
        label_names=[str(i) for i in range(527)],
        sample_rate=rate,
        clip_seconds=seconds,
        workers=os.cpu_count(),
        progress=False,
    )
    result = {}
    for mode, mixup in (("balanced", None), ("balanced+feature mixup", "features")):
        dataset = make_dataset(
            packed,
            mode="balanced",
            batch_size=batch,
            mixup_alpha=1.0 if mixup else None,
            mixup_mode=mixup or "features",
        )
        iterator = iter(dataset)
        next(iterator)
        start = time.perf_counter()
        clips = 0
        for _ in range(steps):
            x, _ = next(iterator)
            clips += int((x["waveform"] if isinstance(x, dict) else x).shape[0])
        result[mode] = clips / (time.perf_counter() - start)
    return {"clips_read_per_s": result, "cores": os.cpu_count()}


WORKERS = {
    "keras_train": keras_train,
    "keras_infer": keras_infer,
    "torch_train": torch_train,
    "matmul": matmul,
    "pipeline": pipeline,
}


def _run(worker, backend=None, **args):
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    command = [sys.executable, os.path.abspath(__file__), f"--worker={worker}", f"--args={json.dumps(args)}"]
    if FLAGS.smoke:
        command.append("--smoke")
        env.setdefault("JAX_PLATFORMS", "cpu")
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=FLAGS.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {FLAGS.timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        out_of_memory = any(word in done.stderr for word in ("RESOURCE_EXHAUSTED", "out of memory", "OutOfMemory"))
        return {"error": "out of memory" if out_of_memory else " | ".join(tail)[-500:]}
    result = json.loads(lines[-1])
    result["process_s"] = time.perf_counter() - start
    print(f"{worker} {backend or ''} {args}: {result}", file=sys.stderr)
    return result


def _training(worker, backend, size, **extra):
    """Batch 32 (the recipe) and the largest batch that fits, doubling until out of memory."""
    steps = 1 if FLAGS.smoke else FLAGS.steps
    rows = {}
    for batch in size["batches"]:
        rows[batch] = _run(worker, backend, batch=batch, steps=steps, **extra)
    if not FLAGS.smoke:
        batch = size["batches"][-1]
        while "error" not in rows[batch] and batch * 2 <= FLAGS.max_batch:
            batch *= 2
            rows[batch] = _run(worker, backend, batch=batch, steps=steps, **extra)
    return rows


def _device_name():
    from machine import gpu_name

    return gpu_name() or f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def markdown(report):
    """The report as a Markdown table (training, inference, pipeline)."""
    peak = report["matmul"].get("tflops")
    lines = [
        f"Device: {report['device']}; bf16 GEMM {peak:.1f} TFLOP/s (n={report['matmul'].get('n')})"
        if peak
        else f"Device: {report['device']}; GEMM failed: {report['matmul']}",
        "",
        "| Cnn14, feature mixup | batch | mixed clips/s | MFU | vs PyTorch | peak memory GB |",
        "|---|---|---|---|---|---|",
    ]
    reference = {b: r.get("clips_per_s") for b, r in report["training"].get("PyTorch reference", {}).items()}
    best_reference = max([v for v in reference.values() if v] or [0])
    for name, rows in report["training"].items():
        for batch, row in rows.items():
            if "error" in row:
                lines.append(f"| {name} | {batch} | {row['error']} | | | |")
                continue
            rate = row["clips_per_s"]
            mfu = f"{rate * report['training_gflop_per_clip'] / (peak * 1e3):.1%}" if peak else "-"
            ratio = f"{rate / best_reference:.2f}x" if best_reference else "-"
            label = f"{name} ({row['mode']})" if "mode" in row else name
            lines.append(f"| {label} | {batch} | {rate:,.1f} | {mfu} | {ratio} | {row['peak_memory_gb']:.1f} |")
    lines += ["", "| Cnn14 inference, bf16 | batch | clips/s | peak memory GB |", "|---|---|---|---|"]
    for name, row in report["inference"].items():
        if "error" in row:
            lines.append(f"| {name} | {report['inference_batch']} | {row['error']} | |")
        else:
            lines.append(
                f"| {name} | {report['inference_batch']} | {row['clips_per_s']:,.1f} | {row['peak_memory_gb']:.1f} |"
            )
    pipe = report["pipeline"]
    lines += ["", "| input pipeline (balanced) | clips read/s |", "|---|---|"]
    if not pipe:
        lines.append("| not measured | |")
    elif "error" in pipe:
        lines.append(f"| failed | {pipe['error']} |")
    else:
        for mode, rate in pipe["clips_read_per_s"].items():
            lines.append(f"| {mode}, {pipe['cores']} cores | {rate:,.0f} |")
    return "\n".join(lines) + "\n"


def _write(report, stem):
    """Writes the report so far (JSON and Markdown): a run cut short keeps every finished measurement."""
    with open(stem + ".json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    table = markdown(report)
    with open(stem + ".md", "w", encoding="utf-8") as f:
        f.write(table)
    return table


def _wanted(section):
    return not FLAGS.only or section in FLAGS.only


def main(argv):
    del argv
    if FLAGS.worker:
        print(json.dumps(WORKERS[FLAGS.worker](FLAGS.smoke, **json.loads(FLAGS.args))))
        return
    size = sizes(FLAGS.smoke)
    started = time.time()
    report = {
        "device": _device_name(),
        "smoke": FLAGS.smoke,
        "date": datetime.date.today().isoformat(),
        "clip": f"{size['seconds']} s at {size['sample_rate']} Hz",
        "training_gflop_per_clip": CNN14_TRAINING_GFLOP * (size["seconds"] / 10) * (size["sample_rate"] / 32000),
        "inference_batch": size["infer_batch"],
        "training": {},
        "inference": {},
        "pipeline": {},
    }
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    device = "".join(c if c.isalnum() else "_" for c in report["device"].split(",")[0])[:40].strip("_")
    stem = os.path.join(FLAGS.out_dir, f"gpu_check_{'smoke_' if FLAGS.smoke else ''}{device}_{report['date']}")
    if FLAGS.only and os.path.exists(stem + ".json"):
        with open(stem + ".json", encoding="utf-8") as f:
            report = json.load(f)
    if _wanted("matmul"):
        report["matmul"] = _run("matmul", n=size["matmul"], steps=3 if FLAGS.smoke else 50)
    # The short measurements first: a run cut short by its time limit loses the longest ones.
    steps = 1 if FLAGS.smoke else 10
    if _wanted("inference"):
        for name, backend in (("keras TF+XLA", "tensorflow"), ("keras JAX", "jax")):
            report["inference"][name] = _run("keras_infer", backend, batch=size["infer_batch"], steps=steps)
            _write(report, stem)
    for section, name, worker, backend, extra in (
        ("keras_tf_train", "keras TF+XLA bf16", "keras_train", "tensorflow", {}),
        ("keras_jax_train", "keras JAX bf16", "keras_train", "jax", {}),
        ("torch_train", "PyTorch reference", "torch_train", None, {"compile": FLAGS.torch_compile}),
    ):
        if _wanted(section):
            report["training"][name] = _training(worker, backend, size, **extra)
            _write(report, stem)
    if _wanted("pipeline"):
        report["pipeline"] = _run("pipeline", batch=2 if FLAGS.smoke else 32, steps=size["pipeline_batches"])
    report["seconds"] = report.get("seconds", 0) + time.time() - started
    table = _write(report, stem)
    print(table)
    print(f"wrote {stem}.json and {stem}.md in {time.time() - started:.0f} s")


if __name__ == "__main__":
    app.run(main)
