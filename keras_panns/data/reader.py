"""Random access to packed clips by example index.

Every mode of `make_dataset` reads through here: the index (record offsets
and lengths, labels) is held as a few flat arrays, and each clip's int16 PCM
is read straight from its shard into a row of the batch array, with the
record's TFRecord checksum verified. Reading by offset is what makes PANNs'
balanced sampling possible over a stream without loading the corpus, and it
skips the protobuf parse and the copies a `TFRecordDataset` pipeline makes.
The shards stay standard TFRecords of `tf.train.Example`s for other readers.
"""

import json
import os

import crc32c  # checksums a buffer in place; google-crc32c would first need a copy of it
import numpy as np

from keras_panns.errors import CorruptClip, DataError

RECORD_HEADER = 12  # TFRecord framing before the data: uint64 length and its masked crc32c
RECORD_OVERHEAD = 16  # ... plus the data's masked crc32c after it
_ALIGN = 64  # TensorFlow adopts numpy buffers aligned to 64 bytes without copying them


def _join(directory, name):
    """`directory/name` for local paths and `tf.io.gfile` URLs alike."""
    return directory.rstrip("/") + "/" + name if "://" in directory else os.path.join(directory, name)


def _masked_crc(crc):
    """TFRecord's masking of a crc32c (a rotation plus a constant)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def aligned_pcm(rows, samples):
    """An uninitialised int16 `(rows, samples)` array on a 64-byte boundary."""
    nbytes = rows * samples * 2
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start : start + nbytes].view(np.int16).reshape(rows, samples)


class ClipIndex:
    """The index of a packed directory: where each clip's PCM lies and its labels.

    About 30 bytes per clip (57 MB for AudioSet's 1.9 M clips), shared by
    every reader thread; each thread opens its own files with `open()`.

    Args:
        manifest: dict. From `keras_panns.data.load_manifest`.

    Example:
    ```python
    index = ClipIndex(load_manifest("/data/audioset_packed"))
    with index.open() as files:
        pcm = aligned_pcm(2, index.clip_samples)
        files.read_into(0, pcm[0]); files.read_into(7, pcm[1])
    targets = index.targets([0, 7])
    ```
    """

    def __init__(self, manifest):
        import tensorflow as tf

        if not manifest.get("format", "").endswith(".v2"):
            raise DataError(
                f"{manifest['directory']} was packed by an older keras-panns ({manifest.get('format')}) "
                "whose records need not end with their PCM; pack it again into a new directory"
            )
        self.directory = manifest["directory"]
        self.clip_samples = int(manifest["clip_samples"])
        self.num_classes = int(manifest["num_classes"])
        self.paths = [_join(self.directory, s["file"]) for s in manifest["shards"]]
        shard, record, length, labels = [], [], [], []
        for k, entry in enumerate(manifest["shards"]):
            with tf.io.gfile.GFile(_join(self.directory, entry["index"])) as f:
                index = json.load(f)
            shard.append(np.full(len(index["offsets"]), k, np.int32))
            record.append(np.asarray(index["offsets"], np.int64))
            length.append(np.asarray(index["lengths"], np.int64))
            labels.extend(index["labels"])
        self.shard, self.record_offset, record_length = (
            np.concatenate(a) if a else np.zeros(0, np.int64) for a in (shard, record, length)
        )
        # The packer serializes so that the PCM ends every record (format v2).
        self.pcm_offset = self.record_offset + RECORD_HEADER + record_length - 2 * self.clip_samples
        self.label_splits = np.cumsum([0] + [len(l) for l in labels], dtype=np.int64)
        self.label_values = np.asarray([c for l in labels for c in l], np.int32)

    @property
    def num_examples(self):
        return len(self.shard)

    def targets(self, indices):
        """Multi-hot float32 targets `(len(indices), num_classes)`.

        Args:
            indices: sequence of int, clip numbers.

        Returns:
            float32 array.

        Example:
        ```python
        ClipIndex(manifest).targets([0, 5]).shape  # (2, 527)
        ```
        """
        targets = np.zeros((len(indices), self.num_classes), np.float32)
        for row, i in enumerate(indices):
            targets[row, self.label_values[self.label_splits[i] : self.label_splits[i + 1]]] = 1.0
        return targets

    def open(self):
        """Open file handles for one reader thread (a context manager).

        Returns:
            `ClipFiles`, which closes its handles on exit.

        Example:
        ```python
        with ClipIndex(manifest).open() as files:
            files.read_into(0, row)
        ```
        """
        return ClipFiles(self)


class ClipFiles:
    """One thread's open shards; `read_into` copies a clip's PCM into a buffer."""

    def __init__(self, index):
        self._index = index
        self._files = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def _file(self, k):
        if k not in self._files:
            path = self._index.paths[k]
            if "://" in path:
                import tensorflow as tf

                self._files[k] = tf.io.gfile.GFile(path, "rb")
            else:
                # Unbuffered: readinto goes straight from the page cache to the batch, without the GIL.
                self._files[k] = open(path, "rb", buffering=0)
        return self._files[k]

    def read_into(self, i, row):
        """Reads clip `i`'s PCM into the int16 array `row` and checks the record's crc32c.

        Raises:
            CorruptClip: the record is truncated or its checksum does not match.
        """
        index = self._index
        k = int(index.shard[i])
        start = int(index.record_offset[i]) + RECORD_HEADER
        pcm_start = int(index.pcm_offset[i])
        f = self._file(k)
        f.seek(start)
        prefix = f.read(pcm_start - start)  # the id and labels, serialized before the PCM
        view = memoryview(row).cast("B")
        if hasattr(f, "readinto"):
            got = f.readinto(view)
        else:
            data = f.read(len(view))
            got = len(data)
            view[:got] = data
        trailer = f.read(4)
        where = f"{index.paths[k]} record {i} (offset {start - RECORD_HEADER})"
        if got != len(view) or len(trailer) != 4 or len(prefix) != pcm_start - start:
            raise CorruptClip(f"{where}: truncated")
        crc = crc32c.crc32c(view, value=crc32c.crc32c(prefix))
        if _masked_crc(crc) != int.from_bytes(trailer, "little"):
            raise CorruptClip(f"{where}: checksum mismatch")
