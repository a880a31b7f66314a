"""CPU inference throughput of keras_panns against the PyTorch reference.

Measures clips/s on 10-s 32 kHz clips at batch 1 and 8 for keras_panns Cnn14
and Cnn6 and for the reference Cnn14 of the `panns-inference` package
(PyTorch, eval mode, `torch.no_grad`) in the same process, on the same
machine, with the same weights: the reference model's randomly initialised
state dict is ported into the Keras Cnn14, and the two outputs are compared
before timing. Ratios are against the PyTorch Cnn14 at the same batch size.

Both frameworks share this process and its cores, so their thread pools slow
each other down: use it to check parity and for a rough figure, and
`tools/benchmark_export.py` (one process per runtime) to compare speeds.

Usage:
  python tools/benchmark_inference.py [--repeats 5] [--batch_sizes 1,8] [--markdown]
"""

import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from reference_models import reference_cnn14  # noqa: E402

flags.DEFINE_integer("repeats", 5, "Timed runs per measurement (after one warm-up run).")
flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes to measure.")
flags.DEFINE_float("seconds", 10.0, "Clip length in seconds.")
flags.DEFINE_boolean("markdown", False, "Print the table as Markdown.")
FLAGS = flags.FLAGS


def _time(fn, batch, repeats):
    fn(batch)  # warm-up: tracing, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return len(batch) / float(np.median(times))


def main(argv):
    del argv
    import keras
    import torch

    import keras_panns
    from keras_panns.checkpoint import port_state_dict

    threads = torch.get_num_threads()
    reference = reference_cnn14()
    state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    keras_cnn14 = keras_panns.Cnn14()
    port_state_dict(keras_cnn14, state)
    keras_cnn6 = keras_panns.Cnn6()

    samples = int(FLAGS.seconds * 32000)
    rs = np.random.RandomState(0)
    clips = rs.uniform(-0.5, 0.5, (max(int(b) for b in FLAGS.batch_sizes), samples)).astype(np.float32)

    with torch.no_grad():
        ref_out = reference(torch.from_numpy(clips[:1]))["clipwise_output"].numpy()
    keras_out = keras_cnn14.predict_on_batch(clips[:1])["clipwise_output"]
    parity = float(np.abs(ref_out - keras_out).max())

    def torch_fn(batch):
        with torch.no_grad():
            return reference(torch.from_numpy(batch))["clipwise_output"].numpy()

    rows = []
    for b in (int(x) for x in FLAGS.batch_sizes):
        batch = clips[:b]
        base = _time(torch_fn, batch, FLAGS.repeats)
        rows.append(("PyTorch panns-inference Cnn14", b, base, 1.0))
        for name, model in (("keras_panns Cnn14", keras_cnn14), ("keras_panns Cnn6", keras_cnn6)):
            rate = _time(model.predict_on_batch, batch, FLAGS.repeats)
            rows.append((name, b, rate, rate / base))
        print(f"measured batch {b}", file=sys.stderr)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"# CPU inference, {FLAGS.seconds:g}-s 32 kHz clips, median of {FLAGS.repeats} runs; "
        f"keras {keras.__version__} ({keras.backend.backend()}), torch {torch.__version__} "
        f"({threads} threads), {os.cpu_count()} CPUs"
    )
    print(f"# parity Keras vs PyTorch Cnn14 (same weights): max |diff| clipwise = {parity:.2e}")
    print(f"# peak RSS of the process: {peak_mb:.0f} MB")
    if FLAGS.markdown:
        print("| model | batch | clips/s | vs PyTorch Cnn14 |\n|---|---|---|---|")
        for name, b, rate, ratio in rows:
            print(f"| {name} | {b} | {rate:.2f} | {ratio:.2f}x |")
    else:
        print(f"{'model':<32} {'batch':>5} {'clips/s':>9} {'ratio':>7}")
        for name, b, rate, ratio in rows:
            print(f"{name:<32} {b:>5} {rate:>9.2f} {ratio:>6.2f}x")


if __name__ == "__main__":
    app.run(main)
