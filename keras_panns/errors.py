"""Exceptions raised by keras_panns.

Every error a user can trigger with bad input derives from `PANNsError`, so
callers (and the command line) can report it cleanly and go on with the next
file instead of printing a traceback.
"""


class PANNsError(Exception):
    """Base class of every keras_panns error caused by input, files or network."""


class AudioError(PANNsError, ValueError):
    """Audio that cannot be used: unreadable, empty, NaN, or too short."""


class CheckpointError(PANNsError, ValueError):
    """A checkpoint file that cannot be read or does not fit the architecture."""


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
