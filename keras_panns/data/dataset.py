"""`tf.data` input for `model.fit` from packed shards: balanced, shuffled or evaluation order, with mixup."""

import itertools
import json
import os
import warnings

import numpy as np

from keras_panns.data.packing import MANIFEST
from keras_panns.data.reader import ClipIndex, _join, aligned_pcm
from keras_panns.data.sampling import BalancedSampler
from keras_panns.errors import CorruptClip, DataError

MODES = ("balanced", "shuffle", "eval")
MIXUP_MODES = ("waveform", "features")


def load_manifest(directory):
    """The manifest of a packed directory, with `directory` added.

    Args:
        directory: str, a local folder or any `tf.io.gfile` URL (`gs://...`).

    Returns:
        dict: the `pack` manifest (shards, clip counts, sample rate, labels) plus `directory`.

    Raises:
        DataError: no manifest there (the data is not packed).

    Example:
    ```python
    manifest = keras_panns.data.load_manifest("packed/balanced_train")
    manifest["num_examples"]
    ```
    """
    import tensorflow as tf

    path = _join(directory, MANIFEST)
    if not tf.io.gfile.exists(path):
        raise DataError(f"{directory}: no {MANIFEST}; pack the data first (keras-panns pack)")
    with tf.io.gfile.GFile(path) as f:
        manifest = json.load(f)
    manifest["directory"] = directory
    return manifest


def _index_stream(mode, index, seed, pipeline, pipelines, repeat):
    """The example indices of a mode, a pure function of the arguments.

    Balanced: `BalancedSampler` seeded per pipeline. Shuffle: one seeded
    permutation of the whole corpus per epoch (a full shuffle, no buffer),
    split between pipelines. Eval: manifest order, split between pipelines.
    """
    if mode == "balanced":
        yield from BalancedSampler.from_flat_labels(
            index.label_values, index.label_splits, index.num_classes, seed * 1009 + pipeline
        )
        return
    for epoch in itertools.count():
        order = (
            np.arange(index.num_examples)
            if mode == "eval"
            else np.random.RandomState([seed % 2**32, epoch]).permutation(index.num_examples)
        )
        yield from order[pipeline::pipelines].tolist()
        if not repeat:
            return


def _batch_reader(index, stream, per_step, parts, full_batches, strict, seed):
    """A generator function `(part) -> (int16 PCM (n, samples), targets (n, classes))` batches.

    Part `p` of `parts` reads batches p, p + parts, ... of the stream (each
    part replays the cheap index stream itself), so parts read in parallel
    and interleaving them in turn restores the order. A corrupt record is
    replaced by a random intact clip in endless modes, dropped in eval, and
    raises with `strict`; a warning names it once.
    """
    bad = set()

    def read(files, i, row):
        try:
            files.read_into(i, row)
            return True
        except CorruptClip as exc:
            if strict:
                raise
            if i not in bad:
                bad.add(i)
                warnings.warn(f"skipping a corrupt clip: {exc}", stacklevel=2)
            return False

    def generator(part=0):
        part = int(part)
        indices = stream()
        with index.open() as files:
            for number in itertools.count():
                draws = list(itertools.islice(indices, per_step))
                if not draws or (full_batches and len(draws) < per_step):
                    return
                if number % parts != part:
                    continue
                pcm = aligned_pcm(len(draws), index.clip_samples)
                kept = []
                for i in draws:
                    if read(files, i, pcm[len(kept)]):
                        kept.append(i)
                    elif full_batches:
                        kept.append(
                            _substitute(
                                index, lambda j: read(files, j, pcm[len(kept)]), [seed % 2**32, number, len(kept)]
                            )
                        )
                yield pcm[: len(kept)], index.targets(kept)

    return generator


def _substitute(index, read, seed, tries=100):
    rng = np.random.RandomState(seed)
    for _ in range(tries):
        j = int(rng.randint(index.num_examples))
        if read(j):
            return j
    raise DataError(f"{index.directory}: {tries} random clips in a row were corrupt; check the shards")


def _to_float():
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def to_float(pcm):  # one fused pass: int16 -> float32 in [-1, 1)
        return tf.cast(pcm, tf.float32) * (1.0 / 32768.0)

    return to_float


def _mix(alpha, mode, seed):
    """PANNs' mixup: pairs (0, 1), (2, 3), ... with lambda ~ Beta(alpha, alpha); halves the batch."""
    import tensorflow as tf

    to_float = _to_float()

    @tf.function(jit_compile=True)
    def mix_waveforms(pcm, weights):  # one fused elementwise pass: int16 pairs -> mixed float32 (2x an einsum)
        pairs = tf.reshape(pcm, [tf.shape(weights)[0], 2, -1])
        weights = weights * (1.0 / 32768.0)
        return tf.cast(pairs[:, 0], tf.float32) * weights[:, :1] + tf.cast(pairs[:, 1], tf.float32) * weights[:, 1:]

    def mix(step, pcm, target):
        pairs = tf.shape(pcm)[0] // 2
        seeds = tf.stack([tf.cast(seed, tf.int64), step])
        a = tf.random.stateless_gamma([pairs], seed=seeds, alpha=alpha)
        b = tf.random.stateless_gamma([pairs], seed=seeds + 1, alpha=alpha)
        lam = a / (a + b)
        weights = tf.stack([lam, 1.0 - lam], axis=1)
        mixed_target = lam[:, None] * target[0::2] + (1.0 - lam[:, None]) * target[1::2]
        if mode == "features":
            return {"waveform": to_float(pcm), "mixup_lambda": tf.reshape(weights, [-1])}, mixed_target
        return mix_waveforms(pcm, weights), mixed_target

    return mix


def make_dataset(
    directory,
    *,
    mode="balanced",
    batch_size=32,
    mixup_alpha=None,
    mixup_mode="waveform",
    seed=0,
    repeat=None,
    strict=False,
    input_context=None,
    parallel_reads=2,
    start_batch=0,
):
    """A dataset of `(waveform float32 (B, samples), target float32 (B, classes))` batches.

    Modes:
    - `"balanced"` (PANNs' training default): endless, every aligned run of C
      draws covers all C classes (see `BalancedSampler`).
    - `"shuffle"`: every clip once per epoch, in a new seeded permutation of
      the whole corpus each epoch (no shuffle buffer).
    - `"eval"`: every clip exactly once, in manifest order.

    Clips are read by offset straight into the batch (see
    `keras_panns.data.reader`), so only the index is in memory. Each
    record's checksum is verified; a corrupt one is skipped with a warning
    (replaced by a random intact clip in the endless modes, so batches keep
    their size) or raises `CorruptClip` with `strict`.

    Mixup (`mixup_alpha`, PANNs: 1.0) draws 2B clips per batch and mixes pairs
    with lambda ~ Beta(alpha, alpha), giving B mixed targets. `mixup_mode=
    "waveform"` mixes the audio here. `"features"` is PANNs' own recipe: the
    2B unmixed waveforms come with `mixup_lambda` (2B,) as a dict input, for
    a model that mixes after `bn0` and SpecAugment
    (`keras_panns.training.with_feature_mixup`); mixing log-mel features is
    not the same as mixing waveforms, because the log of a sum is not the sum
    of logs.

    Args:
        directory: str. A packed directory (local or `tf.io.gfile` URL).
        mode: str. One of `"balanced"`, `"shuffle"`, `"eval"`.
        batch_size: int. Examples per batch (after mixup).
        mixup_alpha: float or None.
        mixup_mode: str. `"waveform"` or `"features"`.
        seed: int. Same seed, same batches (order, balancing and mixup).
        repeat: bool or None. Repeat forever (default: all modes but eval).
        strict: bool. Raise on a corrupt record instead of skipping it.
        input_context: `tf.distribute.InputContext` or None. Given (e.g. by
            `strategy.distribute_datasets_from_function`), each input pipeline
            reads its own share of every epoch (shuffle/eval) or its own seed
            (balanced), and `batch_size` is the global batch.
        parallel_reads: int. Reader threads (each reads whole batches).
        start_batch: int. Begin as if this many batches had been drawn already
            (resuming a run: same batches, same mixup coefficients).

    Returns:
        A `tf.data.Dataset`, prefetched.

    Raises:
        ValueError: an unknown `mode` or `mixup_mode`.
        DataError: no manifest, or the packed dataset is empty.

    Example:
    ```python
    train = make_dataset("/data/audioset_packed", mode="balanced", batch_size=32, mixup_alpha=1.0)
    model.fit(train, steps_per_epoch=1000)
    ```
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mixup_mode not in MIXUP_MODES:
        raise ValueError(f"mixup_mode must be one of {MIXUP_MODES}, got {mixup_mode!r}")
    manifest = load_manifest(directory) if isinstance(directory, (str, os.PathLike)) else directory
    if manifest["num_examples"] == 0:
        raise DataError(f"{manifest['directory']}: the packed dataset is empty")
    index = ClipIndex(manifest)
    repeat = mode != "eval" if repeat is None else repeat
    pipelines, pipeline = 1, 0
    if input_context is not None:
        pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)

    per_step = batch_size * 2 if mixup_alpha else batch_size
    full_batches = mode != "eval" or bool(mixup_alpha)

    def stream():
        indices = _index_stream(mode, index, seed, pipeline, pipelines, repeat)
        return itertools.islice(indices, start_batch * per_step, None)  # resuming: skip indices, not audio

    parts = max(1, int(parallel_reads))
    reader = _batch_reader(index, stream, per_step, parts, full_batches, strict, seed)
    batches = _read_in_parallel(reader, index, per_step if full_batches else None, parts)
    batches = _to_training_batches(batches, mixup_alpha, mixup_mode, seed, start_batch)
    return batches.with_options(_options(input_context, mode)).prefetch(tf.data.AUTOTUNE)


def _read_in_parallel(reader, index, rows, parts):
    """Interleaves `parts` generator readers into one deterministic stream of (pcm int16, target) batches."""
    import tensorflow as tf

    # rows: a static batch dimension keeps XLA from recompiling (None only for eval's short last batch).
    signature = (
        tf.TensorSpec((rows, index.clip_samples), tf.int16),
        tf.TensorSpec((rows, index.num_classes), tf.float32),
    )
    return tf.data.Dataset.range(parts).interleave(
        lambda part: tf.data.Dataset.from_generator(reader, args=(part,), output_signature=signature),
        cycle_length=parts,
        block_length=1,
        num_parallel_calls=parts,
        deterministic=True,
    )


def _to_training_batches(batches, mixup_alpha, mixup_mode, seed, start_batch):
    """Turns int16 batches into float32 ones, mixed up when `mixup_alpha` is set."""
    import tensorflow as tf

    if mixup_alpha:
        mix = _mix(float(mixup_alpha), mixup_mode, seed)
        return batches.enumerate(start=start_batch).map(
            lambda step, batch: mix(step, *batch), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    to_float = _to_float()
    return batches.map(
        lambda pcm, target: (to_float(pcm), target), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _options(input_context, mode):
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    # Pipelines already read their own share or seed; tf.distribute must not shard again.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if input_context is not None or mode != "eval"
        else tf.data.experimental.AutoShardPolicy.DATA
    )
    return options
