"""`tf.data` input for `model.fit` from packed shards: balanced, shuffled or evaluation order, with mixup."""

import itertools
import json
import os

import numpy as np

from keras_panns.data.packing import MANIFEST, RECORD_OVERHEAD, _join
from keras_panns.data.sampling import BalancedSampler
from keras_panns.data.sources import DataError

MODES = ("balanced", "shuffle", "eval")
MIXUP_MODES = ("waveform", "features")


def load_manifest(directory):
    """The manifest of a packed directory, with `directory` added."""
    import tensorflow as tf

    path = _join(directory, MANIFEST)
    if not tf.io.gfile.exists(path):
        raise DataError(f"{directory}: no {MANIFEST}; pack the data first (keras-panns pack)")
    with tf.io.gfile.GFile(path) as f:
        manifest = json.load(f)
    manifest["directory"] = directory
    return manifest


def _parse_fn(clip_samples, num_classes):
    """Record -> (raw PCM bytes, multi-hot target); the PCM is decoded per batch, which copies less."""
    import tensorflow as tf

    spec = {"waveform": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)}

    def parse(serialized):
        features = tf.io.parse_single_example(serialized, spec)
        raw = features["waveform"]
        # A damaged record must fail here, alone, not later in its whole batch.
        tf.debugging.assert_equal(tf.strings.length(raw), 2 * clip_samples, message="truncated waveform")
        labels = features["labels"].values
        target = tf.scatter_nd(labels[:, None], tf.ones_like(labels, tf.float32), [num_classes])
        return raw, tf.minimum(target, 1.0)

    return parse


def _decode_fn(clip_samples):
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def to_float(pcm):  # one fused pass: int16 -> float32 in [-1, 1)
        return tf.cast(pcm, tf.float32) * (1.0 / 32768.0)

    def decode(raw, target):
        pcm = tf.reshape(tf.io.decode_raw(raw, tf.int16), [-1, clip_samples])
        return to_float(pcm), target

    return decode


CHUNK = 64  # records per Python -> TF hand-over


def _balanced_records(manifest, seed, skip=0, parts=1):
    """A generator function `(part) -> chunks of serialized records` chosen by `BalancedSampler`.

    The balanced stream is cut into chunks of `CHUNK` records; part `p` of
    `parts` reads chunks p, p + parts, ... by offset from the shards, so
    several parts read in parallel and interleaving them in turn restores the
    stream's order. Each part replays the (cheap) index stream itself.
    """
    import tensorflow as tf

    directory = manifest["directory"]
    shards, offsets, lengths, labels = [], [], [], []
    for k, shard in enumerate(manifest["shards"]):
        with tf.io.gfile.GFile(_join(directory, shard["index"])) as f:
            index = json.load(f)
        shards.extend([k] * len(index["offsets"]))
        offsets.extend(index["offsets"])
        lengths.extend(index["lengths"])
        labels.extend(index["labels"])
    shards, offsets, lengths = (np.asarray(a, np.int64) for a in (shards, offsets, lengths))

    def open_shard(k):
        path = _join(directory, manifest["shards"][k]["file"])
        # Python's own files release the GIL while reading; gfile is only needed for URLs.
        return tf.io.gfile.GFile(path, "rb") if "://" in path else open(path, "rb", buffering=0)

    def generator(part=0):
        part = int(part)
        sampler = BalancedSampler(labels, manifest["num_classes"], seed)
        for _ in range(skip):  # resuming: advance the index stream without reading audio
            next(sampler)
        files = {}
        try:
            for chunk_index in itertools.count():
                draws = [next(sampler) for _ in range(CHUNK)]
                if chunk_index % parts != part:
                    continue
                chunk = []
                for i in draws:
                    k = int(shards[i])
                    if k not in files:
                        files[k] = open_shard(k)
                    files[k].seek(int(offsets[i]) + RECORD_OVERHEAD - 4)  # skip the length and its crc
                    chunk.append(files[k].read(int(lengths[i])))
                yield chunk
        finally:
            for handle in files.values():
                handle.close()

    return generator


def _mix(alpha, mode, seed):
    """PANNs' mixup: pairs (0, 1), (2, 3), ... with lambda ~ Beta(alpha, alpha); halves the batch."""
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def mix_waveforms(waveform, weights):  # one fused pass over the pairs
        pairs = tf.reshape(waveform, [tf.shape(weights)[0], 2, -1])
        return tf.einsum("pkl,pk->pl", pairs, weights)

    def mix(step, batch):
        waveform, target = batch
        pairs = tf.shape(waveform)[0] // 2
        seeds = tf.stack([tf.cast(seed, tf.int64), step])
        a = tf.random.stateless_gamma([pairs], seed=seeds, alpha=alpha)
        b = tf.random.stateless_gamma([pairs], seed=seeds + 1, alpha=alpha)
        lam = a / (a + b)
        weights = tf.stack([lam, 1.0 - lam], axis=1)
        mixed_target = lam[:, None] * target[0::2] + (1.0 - lam[:, None]) * target[1::2]
        if mode == "features":
            return {"waveform": waveform, "mixup_lambda": tf.reshape(weights, [-1])}, mixed_target
        return mix_waveforms(waveform, weights), mixed_target

    return mix


def make_dataset(directory, *, mode="balanced", batch_size=32, mixup_alpha=None, mixup_mode="waveform", seed=0,
                 shuffle_buffer=1024, repeat=None, strict=False, input_context=None, parallel_reads=4,
                 start_batch=0):
    """A dataset of `(waveform float32 (B, samples), target float32 (B, classes))` batches.

    Modes:
    - `"balanced"` (PANNs' training default): endless, every aligned run of C
      draws covers all C classes (see `BalancedSampler`); records are read
      by offset, so only the index is in memory.
    - `"shuffle"`: shards in random order, interleaved, through a shuffle buffer.
    - `"eval"`: every clip exactly once, in manifest order.

    Mixup (`mixup_alpha`, PANNs: 1.0) draws 2B clips per batch and mixes pairs
    with lambda ~ Beta(alpha, alpha), giving B mixed targets. `mixup_mode=
    "waveform"` mixes the audio here. `"features"` is PANNs' own recipe: the
    2B unmixed waveforms come with `mixup_lambda` (2B,) as a dict input, and
    the model mixes after `bn0` and SpecAugment (build it with
    `mixup_input=True`); mixing log-mel features is not the same as mixing
    waveforms, because the log of a sum is not the sum of logs.

    Args:
        directory: str. A packed directory (local or `tf.io.gfile` URL).
        mode: str. One of `"balanced"`, `"shuffle"`, `"eval"`.
        batch_size: int. Examples per batch (after mixup).
        mixup_alpha: float or None.
        mixup_mode: str. `"waveform"` or `"features"`.
        seed: int. Same seed, same batches (shuffling, balancing and mixup).
        shuffle_buffer: int. Shuffle mode's buffer, in clips.
        repeat: bool or None. Repeat forever (default: all modes but eval).
        strict: bool. Raise on a corrupt record instead of skipping it with a warning.
        input_context: `tf.distribute.InputContext` or None. Given (e.g. by
            `strategy.distribute_datasets_from_function`), each input pipeline
            reads its own files (shuffle/eval) or its own seed (balanced), and
            `batch_size` is the global batch.
        parallel_reads: int. Shards read at once (shuffle) or reader threads (balanced).
        start_batch: int. Begin as if this many batches had been drawn already
            (resuming a run: same batches, same mixup coefficients).

    Returns:
        A `tf.data.Dataset`, prefetched.

    Example:
    ```python
    train = make_dataset("gs://bucket/audioset", mode="balanced", batch_size=32, mixup_alpha=1.0)
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
    repeat = mode != "eval" if repeat is None else repeat
    pipelines, pipeline = 1, 0
    if input_context is not None:
        pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    files = [_join(manifest["directory"], s["file"]) for s in manifest["shards"] if s["examples"]]

    per_step = batch_size * 2 if mixup_alpha else batch_size
    if mode == "balanced":
        generator = _balanced_records(manifest, seed * 1009 + pipeline, start_batch * per_step, parallel_reads)
        parts = tf.data.Dataset.range(parallel_reads)
        records = parts.interleave(
            lambda part: tf.data.Dataset.from_generator(generator, args=(part,),
                                                        output_signature=tf.TensorSpec((None,), tf.string)),
            cycle_length=parallel_reads, block_length=1, num_parallel_calls=parallel_reads,
            deterministic=True).unbatch()
    else:
        if pipelines > 1:
            if len(files) < pipelines:
                raise DataError(f"{len(files)} shards cannot feed {pipelines} input pipelines; pack smaller shards")
            files = files[pipeline::pipelines]
        names = tf.data.Dataset.from_tensor_slices(files)
        if mode == "shuffle":
            names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
            if repeat:
                names = names.repeat()
            records = names.interleave(tf.data.TFRecordDataset, cycle_length=min(parallel_reads, len(files)),
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            records = tf.data.TFRecordDataset(names)
    parse = _parse_fn(manifest["clip_samples"], manifest["num_classes"])
    examples = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if not strict:
        examples = examples.ignore_errors(log_warning=True)
    if mode == "shuffle":
        examples = examples.shuffle(shuffle_buffer, seed=seed)
    if mode == "eval" and repeat:
        examples = examples.repeat()
    batches = examples.batch(per_step, drop_remainder=mode != "eval" or bool(mixup_alpha),
                             num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = batches.map(_decode_fn(manifest["clip_samples"]), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    if start_batch and mode != "balanced":
        batches = batches.skip(start_batch)
    if mixup_alpha:
        batches = batches.enumerate(start=start_batch).map(_mix(float(mixup_alpha), mixup_mode, seed),
                                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    # Each pipeline already reads its own files or seed; tf.distribute must not shard again.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if input_context is not None or mode == "balanced"
        else tf.data.experimental.AutoShardPolicy.FILE if len(files) > 1 else tf.data.experimental.AutoShardPolicy.DATA)
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)
