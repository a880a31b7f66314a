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
    """Base class of every keras_panns error caused by input, files or network."""


class AudioError(PANNsError, ValueError):
    """Audio that cannot be used: unreadable, empty, NaN, or too short."""


class MissingAudioError(AudioError):
    """An audio file that does not exist (told apart from unreadable audio by its type, never its message)."""


class CheckpointError(PANNsError, ValueError):
    """A checkpoint or preset that cannot be read or does not fit the architecture."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that asks for a Python global outside the tensor-rebuilding allow-list."""


class DownloadError(PANNsError, OSError):
    """A download that failed; nothing was left in the cache."""


class ChecksumError(DownloadError):
    """A downloaded file whose hash or size differs from the zoo card."""


class UnknownModelError(PANNsError, KeyError):
    """A zoo name, file or architecture that keras_panns does not know."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(PANNsError):
    """A dataset description (CSV, manifest, shard) is malformed."""


class CorruptClip(DataError):
    """A packed record whose bytes are truncated or fail their checksum."""


class ExportError(PANNsError):
    """An export failed, or the exported file does not reproduce the Keras model."""


class TrainingError(PANNsError):
    """Training cannot start or stopped abnormally (NaN loss, incompatible resume)."""


class UnknownLabelError(PANNsError, KeyError):
    """A class or group name (or mid) that is not in the AudioSet ontology."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RuntimeUnavailableError(PANNsError):
    """A runtime or precision cannot run here: a package is missing, the CPU lacks a flag, or input is missing."""


class ArchiveError(PANNsError):
    """An archive index job cannot run: its sources, its output, its cluster or an index made otherwise."""
