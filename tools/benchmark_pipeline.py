"""Input pipeline throughput: clips/s and MB/s of keras_panns.data on packed 10-s 32 kHz clips.

Packs a synthetic AudioSet-like corpus once (random multi-label targets over
527 classes with a skewed class distribution, noise clips), then iterates
`make_dataset` in shuffled, balanced and balanced+mixup modes for a fixed
number of batches, after a warm-up. The baseline of the ratios is the plain
`tf.data` way of reading the same shards in the same run
(`TFRecordDataset` -> `parse_single_example` -> batch -> `decode_raw` ->
float32), which reads sequentially and cannot balance. Prints peak RSS.

Usage:
  python tools/benchmark_pipeline.py [--clips 1024] [--batches 60] [--batch_size 32] [--dir /tmp/kp_bench]
"""

import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("clips", 1024, "Clips in the synthetic corpus.")
flags.DEFINE_integer("batches", 60, "Timed batches per mode.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_string("dir", "/tmp/keras_panns_pipeline_bench", "Where the corpus is packed (reused).")
FLAGS = flags.FLAGS


def _corpus(directory, clips):
    import soundfile

    from keras_panns import labels
    from keras_panns.data import Example, pack

    audio = os.path.join(directory, "audio")
    os.makedirs(audio, exist_ok=True)
    rng = np.random.RandomState(0)
    examples = []
    for i in range(clips):
        path = os.path.join(audio, f"{i:06d}.flac")
        if not os.path.exists(path):
            soundfile.write(path, (rng.normal(0, 0.1, 320000)).astype(np.float32), 32000)
        classes = sorted(set(np.minimum(rng.zipf(1.5, 3), 527) - 1))
        examples.append(Example(f"clip{i}", path, tuple(int(c) for c in classes)))
    return pack(
        examples, os.path.join(directory, "packed"), label_names=labels.audioset_labels(), shard_size=128, progress=True
    )


def _rate(dataset, batches):
    iterator = iter(dataset)
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return time.perf_counter() - start


def _reference(packed, manifest, batch_size):
    """Sequential TFRecordDataset reading with per-record parsing, as a TF user would write it."""
    import glob

    import tensorflow as tf

    spec = {"waveform": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)}

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        target = tf.scatter_nd(
            features["labels"].values[:, None],
            tf.ones_like(features["labels"].values, tf.float32),
            [manifest["num_classes"]],
        )
        return features["waveform"], tf.minimum(target, 1.0)

    def decode(raw, target):
        pcm = tf.reshape(tf.io.decode_raw(raw, tf.int16), [-1, manifest["clip_samples"]])
        return tf.cast(pcm, tf.float32) / 32768.0, target

    files = sorted(glob.glob(os.path.join(packed, "*.tfrecord")))
    return (
        tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
        .repeat()
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def main(argv):
    del argv
    from keras_panns.data import make_dataset

    manifest = _corpus(FLAGS.dir, FLAGS.clips)
    packed = os.path.join(FLAGS.dir, "packed")
    clip_bytes = manifest["clip_samples"] * 2
    rows = []
    for name, kwargs in (
        ("TFRecordDataset + parse (reference)", None),
        ("shuffle", dict(mode="shuffle")),
        ("balanced", dict(mode="balanced")),
        ("balanced+mixup (waveform)", dict(mode="balanced", mixup_alpha=1.0)),
        ("balanced+mixup (features)", dict(mode="balanced", mixup_alpha=1.0, mixup_mode="features")),
    ):
        if kwargs is None:
            dataset = _reference(packed, manifest, FLAGS.batch_size)
        else:
            dataset = make_dataset(packed, batch_size=FLAGS.batch_size, **kwargs)
        seconds = _rate(dataset, FLAGS.batches)
        read = FLAGS.batches * FLAGS.batch_size * (2 if kwargs and "mixup_alpha" in kwargs else 1)
        rows.append((name, FLAGS.batch_size * FLAGS.batches / seconds, read / seconds, read * clip_bytes / seconds))
    base = rows[0][1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"# {os.cpu_count()} cores, 10-s 32 kHz int16 clips ({clip_bytes / 1e6:.2f} MB each), batch "
        f"{FLAGS.batch_size}, {FLAGS.batches} batches after 5 warm-up; peak RSS {peak:.0f} MB"
    )
    print("| mode | batches' clips/s | clips read/s | MB/s read | vs reference |")
    print("|---|---|---|---|---|")
    for name, rate, read, bytes_ in rows:
        print(f"| {name} | {rate:,.0f} | {read:,.0f} | {bytes_ / 1e6:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    app.run(main)
