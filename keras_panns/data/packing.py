"""Packing clips into sharded TFRecords of int16 PCM, in parallel, atomically and resumably.

Layout of a packed directory (local path or any `tf.io.gfile` URL):
- `shard-00000-of-00042.tfrecord`: `tf.train.Example`s with `waveform` (bytes,
  little-endian int16 PCM, `clip_samples` long), `labels` (int64 list) and `id` (bytes).
- `shard-00000-of-00042.json`: that shard's index (record offsets and
  lengths, labels, ids) and its skipped files. Written last: its presence marks the
  shard complete, so a re-run skips it. Each record ends with its PCM, so
  offset and length locate the clip for random access (`reader.ClipIndex`).
- `manifest.json`: sample rate, clip length, label names, per-class counts, shards.
- `skipped.csv`: every file left out and why (missing, unreadable, silent, ...).
"""

import concurrent.futures
import csv
import io
import json
import multiprocessing
import os
import sys

import numpy as np

from keras_panns.audio import load_audio
from keras_panns.data.reader import RECORD_OVERHEAD, _join
from keras_panns.errors import AudioError, DataError, MissingAudioError

PACK_CONFIG = "pack_config.json"
MANIFEST = "manifest.json"
FORMAT = "keras_panns.tfrecord.int16.v2"


def shard_name(index, count):
    return f"shard-{index:05d}-of-{count:05d}"


def decode_clip(path, sample_rate, clip_samples):
    """Reads, mono-mixes, resamples and pads/trims one file to int16; raises ValueError with the reason."""
    if path is None:
        raise ValueError("missing: no file for this segment")
    try:
        waveform = load_audio(path, sample_rate)
    except AudioError as exc:
        reason = "missing" if isinstance(exc, MissingAudioError) else "unreadable"
        raise ValueError(f"{reason}: {exc}") from exc
    if not np.any(waveform):
        raise ValueError("silent: every sample is zero")
    waveform = np.pad(waveform, (0, max(0, clip_samples - len(waveform))))[:clip_samples]
    # x * 32768 with the reader dividing by 32768: the int16 grid is exact for 16-bit sources.
    return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype("<i2")


def _serialize(example_id, labels, pcm):
    import tensorflow as tf

    feature = {
        "waveform": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pcm.tobytes()])),
        "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=list(labels))),
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[example_id.encode("utf-8")])),
    }
    # Deterministic serialization sorts the keys, so the PCM ends the record and the reader can find it.
    record = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)
    if not record.endswith(pcm.tobytes()):
        raise RuntimeError("the serialized record does not end with its PCM")
    return record


def pack_shard(job):
    """Writes one shard and its index; returns the index. Runs in a worker process."""
    import tensorflow as tf

    name, directory = job["name"], job["directory"]
    record_path, index_path = _join(directory, name + ".tfrecord"), _join(directory, name + ".json")
    index = {"file": name + ".tfrecord", "ids": [], "labels": [], "offsets": [], "lengths": [], "skipped": []}
    offset = 0
    with tf.io.TFRecordWriter(record_path + ".partial") as writer:
        for example_id, path, labels in job["examples"]:
            try:
                pcm = decode_clip(path, job["sample_rate"], job["clip_samples"])
            except ValueError as exc:
                index["skipped"].append({"id": example_id, "path": path, "reason": str(exc)})
                continue
            record = _serialize(example_id, labels, pcm)
            writer.write(record)
            index["ids"].append(example_id)
            index["labels"].append(list(labels))
            index["offsets"].append(offset)
            index["lengths"].append(len(record))
            offset += len(record) + RECORD_OVERHEAD
    # Rename the shard first and its index last: a shard counts as done only once both are in place.
    tf.io.gfile.rename(record_path + ".partial", record_path, overwrite=True)
    with tf.io.gfile.GFile(index_path + ".partial", "w") as f:
        json.dump(index, f)
    tf.io.gfile.rename(index_path + ".partial", index_path, overwrite=True)
    return index


def _check_config(directory, config):
    import tensorflow as tf

    path = _join(directory, PACK_CONFIG)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            previous = json.load(f)
        if previous != config:
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            raise DataError(
                f"{directory} was packed with different settings ({', '.join(changed)}); use a new output directory"
            )
        return
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(config, f, indent=1)


def pack(
    examples,
    directory,
    *,
    label_names,
    sample_rate=32000,
    clip_seconds=10.0,
    shard_size=256,
    workers=None,
    progress=True,
):
    """Packs examples into TFRecord shards; resumes where a previous run stopped.

    Files that are missing, unreadable, empty, NaN or silent are skipped and
    listed in `skipped.csv`, never abort the job. Each shard is written under a
    temporary name and renamed when complete.

    Args:
        examples: list of `sources.Example`.
        directory: str. Output directory (local or a `tf.io.gfile` URL such as `gs://...`).
        label_names: list of str. Class names in index order.
        sample_rate: int. Rate to resample to.
        clip_seconds: float. Clips are zero-padded or trimmed to this length.
        shard_size: int. Examples per shard (256 clips of 10 s at 32 kHz are 164 MB).
        workers: int or None. Processes (default: all cores).
        progress: bool. Show a progress bar.

    Returns:
        The manifest (a dict, also written to `manifest.json`).

    Raises:
        DataError: the example list is empty.

    Example:
    ```python
    examples, names = generic_examples("esc10.csv", path_column="filename", label_column="category")
    manifest = pack(examples, "/data/esc10_packed", label_names=names, clip_seconds=5.0)
    ```
    """
    if not examples:
        raise DataError("nothing to pack: the example list is empty")
    config = {
        "format": FORMAT,
        "sample_rate": int(sample_rate),
        "clip_samples": int(round(clip_seconds * sample_rate)),
        "shard_size": int(shard_size),
        "num_examples": len(examples),
        "labels": list(label_names),
        "first_id": examples[0].id,
        "last_id": examples[-1].id,
    }
    _check_config(directory, config)
    jobs, done = _plan_shards(examples, directory, config)
    bar = _progress_bar(len(examples), done) if progress else None
    try:
        for job, index in _run_shards(jobs, workers or os.cpu_count() or 1):
            done[job["name"]] = index
            if bar is not None:
                bar.update(len(job["examples"]))
    finally:
        if bar is not None:
            bar.close()
    count = _shard_count(len(examples), shard_size)
    return _write_manifest(directory, [done[shard_name(k, count)] for k in range(count)], config)


def _shard_count(num_examples, shard_size):
    return (num_examples + shard_size - 1) // shard_size


def _plan_shards(examples, directory, config):
    """Splits the examples into shard jobs; returns (jobs still to run, indexes of the shards already done)."""
    import tensorflow as tf

    shard_size = config["shard_size"]
    count = _shard_count(len(examples), shard_size)
    jobs, done = [], {}
    for k in range(count):
        name = shard_name(k, count)
        index_path = _join(directory, name + ".json")
        if tf.io.gfile.exists(index_path) and tf.io.gfile.exists(_join(directory, name + ".tfrecord")):
            with tf.io.gfile.GFile(index_path) as f:
                done[name] = json.load(f)
            continue
        chunk = examples[k * shard_size : (k + 1) * shard_size]
        jobs.append(
            {
                "name": name,
                "directory": directory,
                "sample_rate": config["sample_rate"],
                "clip_samples": config["clip_samples"],
                "examples": [(e.id, e.path, tuple(e.labels)) for e in chunk],
            }
        )
    return jobs, done


def _progress_bar(total, done):
    from tqdm.auto import tqdm

    already = sum(len(d["ids"]) + len(d["skipped"]) for d in done.values())
    return tqdm(total=total, initial=already, unit="clip", desc="packing", file=sys.stderr)


def _run_shards(jobs, workers):
    """Yields (job, index) as each shard is written, in worker processes when there is more than one."""
    if workers == 1 or len(jobs) <= 1:
        return ((job, pack_shard(job)) for job in jobs)
    # spawn: TensorFlow is not fork-safe once initialised in the parent.
    return _as_completed(min(workers, len(jobs)), jobs)


def _as_completed(workers, jobs):
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(pack_shard, job): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()


def _write_manifest(directory, indexes, config):
    import tensorflow as tf

    num_classes = len(config["labels"])
    counts = np.zeros(num_classes, np.int64)
    for index in indexes:
        for labels in index["labels"]:
            counts[labels] += 1
    skipped = [s for index in indexes for s in index["skipped"]]
    manifest = {
        "format": FORMAT,
        "sample_rate": config["sample_rate"],
        "clip_samples": config["clip_samples"],
        "num_classes": num_classes,
        "labels": config["labels"],
        "num_examples": int(sum(len(i["ids"]) for i in indexes)),
        "num_skipped": len(skipped),
        "class_counts": counts.tolist(),
        "shards": [
            {"file": i["file"], "index": i["file"].replace(".tfrecord", ".json"), "examples": len(i["ids"])}
            for i in indexes
        ],
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "path", "reason"])
    writer.writerows([s["id"], s["path"], s["reason"]] for s in skipped)
    for name, text in (("skipped.csv", buffer.getvalue()), (MANIFEST, json.dumps(manifest, indent=1))):
        path = _join(directory, name)
        with tf.io.gfile.GFile(path + ".partial", "w") as f:
            f.write(text)
        tf.io.gfile.rename(path + ".partial", path, overwrite=True)
    return manifest
