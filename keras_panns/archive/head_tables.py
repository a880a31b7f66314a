"""Where a head's scores live in an index, and how they are read: `INDEX/heads/NAME/`.

`keras-panns classify apply` (`keras_panns.heads.apply`) writes, per head name:

```
INDEX/heads/NAME/
  head.json                      which head (its sha256, classes, points), written once
  head_scores/part-*.parquet     one part per windows part, named as it: path, window, scores
  head_events/part-*.parquet     with --events: runs of windows at or over each class's point
  _staging/                      parts being written (renamed into place, head_scores last)
```

A `windows` part is never changed once committed (`retire` writes a new name), so a head part named as
a windows part is that part's scores for good: a grown index scores only its new parts, a rerun after a
kill scores only the parts missing, and a part whose windows part was retired is an orphan to remove.
The columns are declared in `keras_panns.archive.schema.HEAD_TABLES`.

Example:
```python
from keras_panns.archive import head_tables

head_tables.records("field.index")["cuckoo"]["classes"]  # ['cuckoo']
head_tables.scored_parts("field.index", "cuckoo")        # ['part-0a1b....parquet', ...]
```
"""

import json
import os
import re

from keras_panns.archive.reader import part_names, read_parquet_part
from keras_panns.errors import ArchiveError

FORMAT = "keras-panns-head-scores/1"
#: The folder of an index that holds every applied head.
HEADS = "heads"
#: The file in a head's folder that says which head made its parts.
RECORD = "head.json"
SCORES = "head_scores"
EVENTS = "head_events"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(name):
    """Refuses a head name that cannot be a folder of the index (letters, digits, `.`, `_`, `-`).

    Args:
        name: str.

    Raises:
        ArchiveError: the name is empty, starts with a dot or underscore, or holds other characters.

    Example:
    ```python
    check_name("cuckoo")
    ```
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArchiveError(
            f"head name {name!r}: use letters, digits, '.', '_' or '-', starting with a letter or digit (--name)"
        )


def folder(root, name):
    """The folder of head `name` in the index at `root`.

    Args:
        root: str or path-like. The index directory.
        name: str. The head's name (`check_name`).

    Returns:
        str.

    Raises:
        ArchiveError: a name that cannot be a folder.

    Example:
    ```python
    folder("field.index", "cuckoo")  # 'field.index/heads/cuckoo'
    ```
    """
    check_name(name)
    return os.path.join(os.fspath(root), HEADS, name)


def read_record(root, name):
    """The record of head `name`, or None when it was never applied to this index.

    Args:
        root: str or path-like. The index directory.
        name: str. The head's name.

    Returns:
        dict (format, head, head_sha256, classes, thresholds, events, card) or None.

    Raises:
        ArchiveError: the record is unreadable or of another format.

    Example:
    ```python
    read_record("field.index", "cuckoo")["head_sha256"]
    ```
    """
    path = os.path.join(folder(root, name), RECORD)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{path}: unreadable ({exc}); delete {os.path.dirname(path)} and apply again") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ArchiveError(f"{path}: not a {FORMAT} record; delete {os.path.dirname(path)} and apply again")
    return record


def records(root):
    """Every head applied to the index at `root`, sorted by name.

    Args:
        root: str or path-like. The index directory.

    Returns:
        dict name -> record (`read_record`).

    Example:
    ```python
    sorted(records("field.index"))  # ['cuckoo', 'machine_fault']
    ```
    """
    base = os.path.join(os.fspath(root), HEADS)
    if not os.path.isdir(base):
        return {}
    found = {}
    for name in sorted(os.listdir(base)):
        if _NAME.match(name) and os.path.isdir(os.path.join(base, name)):
            record = read_record(root, name)
            if record is not None:
                found[name] = record
    return found


def scored_parts(root, name, table=SCORES):
    """The part names of head `name`'s `table`, sorted.

    Args:
        root: str or path-like. The index directory.
        name: str. The head's name.
        table: str. `SCORES` or `EVENTS`.

    Returns:
        list of str (none for a head never applied).

    Example:
    ```python
    scored_parts("field.index", "cuckoo")  # ['part-0a1b....parquet', ...]
    ```
    """
    return part_names(folder(root, name), table)


def read_part(root, name, part, table=SCORES, columns=None):
    """One part of head `name`'s `table`.

    Args:
        root: str or path-like. The index directory.
        name: str. The head's name.
        part: str. The part's file name (`scored_parts`).
        table: str. `SCORES` or `EVENTS`.
        columns: list of str or None (all).

    Returns:
        `pyarrow.Table`.

    Raises:
        ArchiveError: the part cannot be read (named, with what to do).

    Example:
    ```python
    read_part("field.index", "cuckoo", "part-0a1b....parquet").num_rows
    ```
    """
    path = os.path.join(folder(root, name), table, part)
    return read_parquet_part(path, columns, "delete it and apply the head again")
