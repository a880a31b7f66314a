"""Every user-facing exception of keras_panns, in one place.

Each error a user can trigger with bad input derives from `PANNsError`, so
callers (and the command line) can report it cleanly and go on with the next
file instead of printing a traceback. Modules raise these classes; none
defines its own.

Example:
```python
try:
    keras_panns.load_audio("missing.wav")
except keras_panns.AudioError as exc:
    print(exc)  # missing.wav: no such file
```
"""


class PANNsError(Exception):
    """Base class of every keras_panns error caused by input, files or network.

    Example:
    ```python
    try:
        keras_panns.tag(model, "clip.wav")
    except keras_panns.PANNsError as exc:  # any keras_panns error: report it and go on
        print(f"skipped: {exc}")
    ```
    """


class AudioError(PANNsError, ValueError):
    """Audio that cannot be used: unreadable, empty, NaN, or too short.

    Example:
    ```python
    try:
        keras_panns.load_audio("empty.wav")
    except keras_panns.AudioError as exc:
        print(exc)  # empty.wav: no audio samples
    ```
    """


class MissingAudioError(AudioError):
    """An audio file that does not exist (told apart from unreadable audio by its type, never its message).

    Example:
    ```python
    try:
        keras_panns.load_audio("missing.wav")
    except keras_panns.MissingAudioError:
        print("not there")
    ```
    """


class CheckpointError(PANNsError, ValueError):
    """A checkpoint or preset that cannot be read or does not fit the architecture.

    Example:
    ```python
    try:
        keras_panns.Cnn6.from_pretrained("Cnn14_mAP=0.431.pth")
    except keras_panns.CheckpointError as exc:
        print(exc)  # names the file and the layer that does not fit
    ```
    """


class UnsafeCheckpointError(CheckpointError):
    """A pickle that asks for a Python global outside the tensor-rebuilding allow-list.

    Example:
    ```python
    try:
        keras_panns.checkpoint.read_state_dict("suspicious.pth")
    except keras_panns.UnsafeCheckpointError as exc:
        print(exc)  # names the global the pickle asked for; nothing of it ran
    ```
    """


class DownloadError(PANNsError, OSError):
    """A download that failed; nothing was left in the cache.

    Example:
    ```python
    try:
        keras_panns.Cnn14.from_pretrained()
    except keras_panns.DownloadError as exc:
        print(exc)  # the URL and why; run again to retry
    ```
    """


class ChecksumError(DownloadError):
    """A downloaded file whose hash or size differs from the zoo card.

    Example:
    ```python
    try:
        keras_panns.Cnn14.from_pretrained(force_download=True)
    except keras_panns.ChecksumError as exc:
        print(exc)  # the expected and actual md5; the bad file is not kept
    ```
    """


class UnknownModelError(PANNsError, KeyError):
    """A zoo name, file or architecture that keras_panns does not know.

    Example:
    ```python
    try:
        keras_panns.from_pretrained("cnn15")
    except keras_panns.UnknownModelError as exc:
        print(exc)  # lists the zoo's names
    ```
    """

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(PANNsError):
    """A dataset description (CSV, manifest, shard) is malformed.

    Example:
    ```python
    try:
        keras_panns.data.load_manifest("shards/manifest.json")
    except keras_panns.DataError as exc:
        print(exc)
    ```
    """


class CorruptClip(DataError):
    """A packed record whose bytes are truncated or fail their checksum.

    Example:
    ```python
    try:
        reader.read_into(75, row)
    except CorruptClip as exc:
        print(exc)  # the shard, record number and byte offset
    ```
    """


class ExportError(PANNsError):
    """An export failed, or the exported file does not reproduce the Keras model.

    Example:
    ```python
    try:
        keras_panns.export_model(model, "cnn14.tflite", quantize="int8")
    except keras_panns.ExportError as exc:
        print(exc)  # e.g. int8 needs calibration clips
    ```
    """


class TrainingError(PANNsError):
    """Training cannot start or stopped abnormally (NaN loss, incompatible resume).

    Example:
    ```python
    try:
        summary = train(config)
    except keras_panns.TrainingError as exc:
        print(exc)  # e.g. the loss became NaN at step 1200; the last good checkpoint is kept
    ```
    """


class UnknownLabelError(PANNsError, KeyError):
    """A class or group name (or mid) that is not in the AudioSet ontology.

    Example:
    ```python
    try:
        keras_panns.labels.group_indices("Vehicel")
    except keras_panns.UnknownLabelError as exc:
        print(exc)  # suggests 'Vehicle'
    ```
    """

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RuntimeUnavailableError(PANNsError):
    """A runtime or precision cannot run here: a package is missing, the CPU lacks a flag, or input is missing.

    Example:
    ```python
    try:
        runner = get_runner(model, runtime="openvino-bf16")
    except RuntimeUnavailableError as exc:
        print(exc)  # e.g. this CPU has no AVX512_BF16
    ```
    """


class ArchiveError(PANNsError):
    """An archive index job cannot run: its sources, its output, its cluster or an index made otherwise.

    Example:
    ```python
    try:
        keras_panns.index_archive("s3://bucket/audio", out="archive.index")
    except keras_panns.ArchiveError as exc:
        print(exc)  # e.g. the index was made with another model
    ```
    """
