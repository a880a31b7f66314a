"""Atomic local writes: a file appears whole under its name, or not at all.

Every result keras-panns writes (tables, reports, decisions, checkpoints' companions) goes through
a partial file beside it (`<name>.<unique>.partial`) and is renamed into place once complete, so an
interrupted run, a full disk or an exception leaves the previous file (or none) and never half a file,
and two processes writing the same file at once each rename a whole file of their own (the last wins).
"""

import contextlib
import os
import uuid


@contextlib.contextmanager
def atomic_write(path, mode="w", *, encoding="utf-8", newline=None):
    """Opens a partial file beside `path` for writing and renames it to `path` when the block ends without error.

    On an error the partial file is removed and the error goes on; `path` keeps what it held before.

    Args:
        path: str or path-like. The final file.
        mode: `"w"` (text) or `"wb"` (binary).
        encoding: text encoding (ignored in binary mode).
        newline: as `open`'s (`""` for the csv module).

    Yields:
        The open file object.

    Raises:
        ValueError: a mode other than `"w"` or `"wb"`.

    Example:
    ```python
    with atomic_write("scores.json") as f:
        json.dump(scores, f)
    ```
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes a whole file: mode must be 'w' or 'wb', not {mode!r}")
    path = os.fspath(path)
    # A name of its own per writer: a shared `<path>.partial` would be renamed away under a concurrent writer.
    # (Not mkstemp: its files are 0600, and a result keeps the permissions the umask gives any new file.)
    partial = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:12]}.partial"
    text = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
    try:
        with open(partial, mode.replace("w", "x"), **text) as f:
            yield f
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_text_atomic(path, text):
    """Writes `text` to `path` through a partial file, so an interrupted run never leaves half a file.

    Args:
        path: str or path-like.
        text: str, written as UTF-8.

    Example:
    ```python
    write_text_atomic("results.csv", frame.to_csv(index=False))
    ```
    """
    with atomic_write(path) as f:
        f.write(text)
