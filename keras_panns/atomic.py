"""Atomic local writes: a file appears whole under its name, or not at all.

Every result keras-panns writes (tables, reports, decisions, checkpoints' companions) goes through
`<path>.partial` and is renamed into place once complete, so an interrupted run, a full disk or an
exception leaves the previous file (or none) and never half a file.
"""

import contextlib
import os


@contextlib.contextmanager
def atomic_write(path, mode="w", *, encoding="utf-8", newline=None):
    """Opens `<path>.partial` for writing and renames it to `path` when the block ends without error.

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
    partial = f"{path}.partial"
    text = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
    try:
        with open(partial, mode, **text) as f:
            yield f
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_text_atomic(path, text):
    """Writes `text` to `path` through `<path>.partial`, so an interrupted run never leaves half a file.

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
