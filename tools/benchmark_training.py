"""Training throughput on this machine: Keras Cnn6/Cnn14 vs the PyTorch reference recipe, same run.

One training step = PANNs' recipe on 10-s 32 kHz clips: 2B clips in, mixup
inside the network after bn0 and SpecAugment (the reference's `do_mixup`,
keras_panns' `with_feature_mixup`; `--nomixup` feeds B clips instead),
dropout, binary cross-entropy on the B mixed clipwise outputs, backward, Adam
with amsgrad. The PyTorch side is panns_inference's Cnn14 (the reference
implementation) trained the same way on the same device (CUDA when present,
bfloat16/float16 autocast for the matching mixed policy); it is the baseline
of the ratios. Reports mixed clips/s (clips per second that reach the loss),
achieved training GFLOP/s against the paper's forward GFLOPs per 10-s clip (a
training step counts as 3x the forward of the clips it runs through the
body), and, with `--peak_tflops` (the device's dense peak for the policy's
dtype, e.g. 989 for bf16 on an H100 SXM), model FLOP utilisation.

Usage:
  python tools/benchmark_training.py [--batch_size 8] [--steps 3] [--models cnn6,cnn14] [--jit_compile]
      [--dtype_policy mixed_bfloat16] [--peak_tflops 989]
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("batch_size", 8, "Clips per step.")
flags.DEFINE_integer("steps", 3, "Timed steps (after one warm-up step).")
flags.DEFINE_list("models", ["cnn6", "cnn14"], "Zoo names.")
flags.DEFINE_boolean("jit_compile", False, "XLA for the Keras step.")
flags.DEFINE_string("dtype_policy", None, "Keras dtype policy (e.g. mixed_bfloat16 on GPUs).")
flags.DEFINE_boolean("mixup", True, "PANNs' feature mixup (2B clips in, B mixed out).")
flags.DEFINE_float("peak_tflops", None, "Device peak TFLOP/s for the policy's dtype, to report MFU.")
FLAGS = flags.FLAGS


def _time(step, steps):
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def _keras_step(name, x, lam, y):
    import keras

    import keras_panns
    from keras_panns.hub import zoo
    from keras_panns.training import with_feature_mixup

    card = zoo.get_card(name)
    model = keras_panns.get_architecture(card.architecture)(**card.config)
    inputs = x
    if lam is not None:
        model, inputs = with_feature_mixup(model), {"waveform": x, "mixup_lambda": lam}
    model.compile(
        keras.optimizers.Adam(1e-3, amsgrad=True),
        loss={"clipwise_output": "binary_crossentropy"},
        jit_compile=FLAGS.jit_compile,
    )
    return lambda: model.train_on_batch(inputs, {"clipwise_output": y}), card.multi_adds_g


def _torch_step(x, lam, y):
    import contextlib

    import torch
    from reference_models import reference_cnn14

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = reference_cnn14().to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    lt = None if lam is None else torch.from_numpy(lam).to(device)
    policy = FLAGS.dtype_policy or ""
    half = torch.bfloat16 if "bfloat16" in policy else torch.float16 if "float16" in policy else None
    scaler = torch.amp.GradScaler(device) if half == torch.float16 else None

    def step():
        optimizer.zero_grad()
        autocast = torch.autocast(device, dtype=half) if half else contextlib.nullcontext()
        with autocast:
            scores = model(xt, lt)["clipwise_output"]
        loss = torch.nn.functional.binary_cross_entropy(scores.float(), yt)  # the loss in float32, as Keras
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return step


def main(argv):
    del argv
    import keras

    if FLAGS.dtype_policy:
        keras.config.set_dtype_policy(FLAGS.dtype_policy)
    rng = np.random.RandomState(0)
    clips = 2 * FLAGS.batch_size if FLAGS.mixup else FLAGS.batch_size
    x = rng.uniform(-0.5, 0.5, (clips, 320000)).astype(np.float32)
    y = (rng.rand(FLAGS.batch_size, 527) < 0.01).astype(np.float32)
    lam = None
    if FLAGS.mixup:
        pair = rng.beta(1.0, 1.0, FLAGS.batch_size).astype(np.float32)
        lam = np.stack([pair, 1 - pair], axis=1).reshape(-1)
    seconds = _time(_torch_step(x, lam, y), FLAGS.steps)
    base = FLAGS.batch_size / seconds
    rows = [("Cnn14 (PyTorch reference)", base, 1.0, 42.2)]
    for name in FLAGS.models:
        step, gflops = _keras_step(name, x, lam, y)
        rate = FLAGS.batch_size / _time(step, FLAGS.steps)
        rows.append((f"{name} (keras_panns)", rate, rate / base, gflops))
        keras.backend.clear_session()
    print(
        f"# {_device()}, batch {FLAGS.batch_size} mixed from {clips} 10-s clips, mean of {FLAGS.steps} steps; "
        f"keras {keras.__version__}, jit_compile={FLAGS.jit_compile}, policy={FLAGS.dtype_policy or 'float32'}"
    )
    print("| model | mixed clips/s | vs PyTorch Cnn14 | training GFLOP/s (3x forward) | MFU |")
    print("|---|---|---|---|---|")
    for name, rate, ratio, gflops in rows:
        # Mixup runs the 2B clips through the front end and bn0 only; the body sees B: ~B clips of compute.
        achieved = rate * 3 * gflops
        mfu = f"{achieved / (FLAGS.peak_tflops * 1e3):.1%}" if FLAGS.peak_tflops else "-"
        print(f"| {name} | {rate:.2f} | {ratio:.2f}x | {achieved:.0f} | {mfu} |")


def _device():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s): {tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')}"
    return f"{os.cpu_count()} CPU cores"


if __name__ == "__main__":
    app.run(main)
