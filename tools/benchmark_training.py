"""Training throughput on this machine: Keras Cnn6/Cnn14 vs the PyTorch reference recipe, same run.

One training step = PANNs' recipe on a batch of 10-s 32 kHz clips: forward
in training mode (SpecAugment, dropout), binary cross-entropy on
clipwise_output, backward, Adam with amsgrad. The PyTorch side is
panns_inference's Cnn14 (the reference implementation) trained the same way;
it is the baseline of the ratios. Reports mixed clips/s (clips per second
that reach the loss) and model FLOP utilisation against the paper's
forward GFLOPs per 10-s clip (a training step is counted as 3x forward).

Usage:
  python tools/benchmark_training.py [--batch_size 8] [--steps 3] [--models cnn6,cnn14] [--jit_compile]
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("batch_size", 8, "Clips per step.")
flags.DEFINE_integer("steps", 3, "Timed steps (after one warm-up step).")
flags.DEFINE_list("models", ["cnn6", "cnn14"], "Zoo names.")
flags.DEFINE_boolean("jit_compile", False, "XLA for the Keras step.")
flags.DEFINE_string("dtype_policy", None, "Keras dtype policy (e.g. mixed_bfloat16 on GPUs).")
FLAGS = flags.FLAGS


def _time(step, steps):
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def _keras_step(name, x, y):
    import keras

    import keras_panns
    from keras_panns.hub import zoo

    card = zoo.get_card(name)
    model = keras_panns.get_architecture(card.architecture)(**card.config)
    model.compile(keras.optimizers.Adam(1e-3, amsgrad=True), loss={"clipwise_output": "binary_crossentropy"},
                  jit_compile=FLAGS.jit_compile)
    return lambda: model.train_on_batch(x, {"clipwise_output": y}), card.multi_adds_g


def _torch_step(x, y):
    import torch

    from benchmark_inference import _reference_cnn14

    model = _reference_cnn14().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(xt)["clipwise_output"], yt)
        loss.backward()
        optimizer.step()

    return step


def main(argv):
    del argv
    import keras

    if FLAGS.dtype_policy:
        keras.config.set_dtype_policy(FLAGS.dtype_policy)
    rng = np.random.RandomState(0)
    x = rng.uniform(-0.5, 0.5, (FLAGS.batch_size, 320000)).astype(np.float32)
    y = (rng.rand(FLAGS.batch_size, 527) < 0.01).astype(np.float32)
    seconds = _time(_torch_step(x, y), FLAGS.steps)
    base = FLAGS.batch_size / seconds
    rows = [("Cnn14 (PyTorch reference)", base, 1.0, 42.2)]
    for name in FLAGS.models:
        step, gflops = _keras_step(name, x, y)
        rate = FLAGS.batch_size / _time(step, FLAGS.steps)
        rows.append((f"{name} (keras_panns)", rate, rate / base, gflops))
        keras.backend.clear_session()
    print(f"# {os.cpu_count()} CPU cores, batch {FLAGS.batch_size} of 10-s clips, mean of {FLAGS.steps} steps; "
          f"keras {keras.__version__}, jit_compile={FLAGS.jit_compile}, policy={FLAGS.dtype_policy or 'float32'}")
    print("| model | clips/s | vs PyTorch Cnn14 | training GFLOP/s (3x forward) |")
    print("|---|---|---|---|")
    for name, rate, ratio, gflops in rows:
        print(f"| {name} | {rate:.2f} | {ratio:.2f}x | {rate * 3 * gflops:.0f} |")


if __name__ == "__main__":
    app.run(main)
