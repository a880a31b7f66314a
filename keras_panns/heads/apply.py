"""Applying a head to an index: every window scored from its stored embedding, part by part, resumable.

`apply_head` runs the head over each committed `windows` part that has no scores yet and writes the
scores as a part of the same name under `INDEX/heads/NAME/` (layout: `keras_panns.archive.head_tables`,
columns: `schema.HEAD_TABLES`). With `events`, each class's runs of consecutive windows at or over its
operating point (the head card's, else `DEFAULT_THRESHOLD`) become events, written beside.

Why it resumes and grows cleanly: a committed windows part never changes, so a head part named as it
is done for good. A part is written under `_staging/` and renamed into place, events first and scores
last (the scores part marks it done); a killed run leaves at most a part to redo, never one counted
twice. A grown index scores only its new parts; a part whose windows were retired is removed.

Memory holds one part's embeddings at a time; no audio is decoded and no CNN runs.

Example:
```python
from keras_panns.heads.apply import apply_head
from keras_panns.search import Index

report = apply_head(Index("field.index"), "cuckoo.head", events=True)
print(report.summary())  # 'cuckoo: scored 1,204,000 windows in 412 parts ...'
```
"""

import dataclasses
import hashlib
import json
import os
import time
import uuid

import numpy as np

from keras_panns.archive import head_tables, schema
from keras_panns.atomic import atomic_write
from keras_panns.errors import ArchiveError

#: The threshold of a class whose card has no operating point (too few labels), for events.
DEFAULT_THRESHOLD = 0.5
#: Windows per forward pass: a part is scored in slices of this many (memory: one slice's activations).
BATCH = 65536


@dataclasses.dataclass
class ApplyReport:
    """What one `apply_head` did.

    Attributes:
        name: str. The head's name in the index.
        scored_parts: int. Windows parts scored by this run.
        scored_windows: int. Windows scored by this run.
        kept_parts: int. Parts already scored (a resumed or grown index).
        removed_parts: int. Orphan parts removed (their windows were retired).
        events: int or None. Events written by this run (None: events not asked for).
        seconds: float. Wall time.
        embedding_bytes: int. Bytes of float32 embeddings read from the index (as decoded, not as on disk).

    Example:
    ```python
    print(report.summary())
    ```
    """

    name: str
    scored_parts: int
    scored_windows: int
    kept_parts: int
    removed_parts: int
    events: int = None
    seconds: float = 0.0
    embedding_bytes: int = 0

    def summary(self):
        """One line for people.

        Example:
        ```python
        report.summary()  # 'cuckoo: scored 12,000 windows in 4 parts in 0.8 s (15,000 windows/s); ...'
        ```
        """
        rate = self.scored_windows / self.seconds if self.seconds > 0 else 0.0
        line = (
            f"{self.name}: scored {self.scored_windows:,} windows in {self.scored_parts} parts in "
            f"{self.seconds:.1f} s ({rate:,.0f} windows/s, {self.embedding_bytes / max(self.seconds, 1e-9) / 1e6:,.0f} "
            f"MB/s of embeddings); {self.kept_parts} parts were already scored"
        )
        if self.removed_parts:
            line += f"; {self.removed_parts} parts of retired windows removed"
        if self.events is not None:
            line += f"; {self.events:,} events"
        return line


def head_sha256(head_folder):
    """The sha256 of a head folder's model and card together: what identifies a head in an index.

    Args:
        head_folder: str or path-like. A folder `classify train` wrote.

    Returns:
        str, 64 hex digits.

    Example:
    ```python
    head_sha256("cuckoo.head")  # '3f2a...'
    ```
    """
    from keras_panns.heads.head import CARD, MODEL

    digest = hashlib.sha256()
    for name in (MODEL, CARD):
        with open(os.path.join(head_folder, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def class_thresholds(card):
    """Each class's events threshold: its operating point's, else `DEFAULT_THRESHOLD`.

    Args:
        card: `keras_panns.heads.head.HeadCard`.

    Returns:
        dict class -> float.

    Example:
    ```python
    class_thresholds(card)  # {'cuckoo': 0.41}
    ```
    """
    return {
        name: float(record["point"]["threshold"]) if record.get("point") else DEFAULT_THRESHOLD
        for name, record in card.classes.items()
    }


def _record(head_folder, card, events):
    return {
        "format": head_tables.FORMAT,
        "head": os.path.abspath(os.fspath(head_folder)),
        "head_sha256": head_sha256(head_folder),
        "classes": list(card.classes),
        "thresholds": class_thresholds(card),
        "events": bool(events),
        "card": card.to_json(),
    }


def _check_same_head(old, new, name, root):
    differ = [key for key in ("head_sha256", "classes", "events") if old.get(key) != new.get(key)]
    if differ:
        key = differ[0]
        raise ArchiveError(
            f"{root} holds scores of another head named {name!r} ({key}: {old.get(key)!r} there, "
            f"{new.get(key)!r} now); apply with --replace to score everything again, or choose another --name"
        )


def run_events(paths, windows, starts, ends, scores, classes, thresholds):
    """Each class's runs of consecutive windows of one file scoring at least its threshold, as event rows.

    Args:
        paths, windows, starts, ends: arrays `(n,)` of the windows, in file and window order.
        scores: float array `(n, classes)`.
        classes: sequence of str.
        thresholds: dict class -> float.

    Returns:
        list of dicts (path, label, class_index, onset, offset, score): onset the run's first window's
        start, offset its last window's end, score its best window's.

    Example:
    ```python
    run_events(["a.wav"] * 3, [0, 1, 2], [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], np.array([[0.1], [0.9], [0.8]]),
               ["cuckoo"], {"cuckoo": 0.5})
    # [{'path': 'a.wav', 'label': 'cuckoo', 'class_index': 0, 'onset': 1.0, 'offset': 3.0, 'score': 0.9}]
    ```
    """
    paths = np.asarray(paths, dtype=object)
    windows = np.asarray(windows)
    rows = []
    if not len(paths):
        return rows
    new_file = np.ones(len(paths), bool)
    new_file[1:] = (paths[1:] != paths[:-1]) | (windows[1:] != windows[:-1] + 1)
    for c, name in enumerate(classes):
        above = scores[:, c] >= thresholds[name]
        if not above.any():
            continue
        begins = np.flatnonzero(above & (new_file | np.r_[True, ~above[:-1]]))
        finishes = np.flatnonzero(above & np.r_[new_file[1:] | ~above[1:], True])
        for first, last in zip(begins, finishes):
            rows.append(
                dict(
                    path=paths[first],
                    label=name,
                    class_index=c,
                    onset=float(starts[first]),
                    offset=float(ends[last]),
                    score=float(scores[first : last + 1, c].max()),
                )
            )
    return rows


def apply_head(index, head_folder, name=None, *, events=False, replace=False, progress=False):
    """Scores every window of `index` with the head in `head_folder`, into `INDEX/heads/NAME/`.

    Args:
        index: `keras_panns.Index` with embeddings, of the head's base model and windows.
        head_folder: str or path-like. A folder `keras-panns classify train` wrote.
        name: str or None. The head's name in the index (default: the folder's name without `.head`).
        events: bool. Also write each class's runs of windows at or over its point (`head_events`).
        replace: bool. Score everything again when the index holds another head under `name`.
        progress: bool. A tqdm bar on stderr.

    Returns:
        `ApplyReport`.

    Raises:
        ArchiveError: no embeddings (names the flag), a head of another base model or windows (one line), or
            another head already applied under `name` without `replace`.

    Example:
    ```python
    apply_head(Index("field.index"), "cuckoo.head").summary()
    ```
    """
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from keras_panns.heads.head import load_head
    from keras_panns.search.index import matrix_of

    started = time.perf_counter()
    index.require("embeddings")
    head, card = load_head(head_folder, index.manifest)
    name = name or os.path.basename(os.path.normpath(os.fspath(head_folder))).removesuffix(".head")
    where = head_tables.folder(index.path, name)
    record = _record(head_folder, card, events)
    old = head_tables.read_record(index.path, name)
    if old is not None and replace:
        shutil.rmtree(where)
        old = None
    if old is not None:
        _check_same_head(old, record, name, index.path)
    else:
        os.makedirs(where, exist_ok=True)
        with atomic_write(os.path.join(where, head_tables.RECORD)) as f:
            json.dump(record, f, indent=2)
    classes = record["classes"]
    score_schema = schema.arrow_schema(head_tables.SCORES, len(classes), 0, None)
    event_schema = schema.arrow_schema(head_tables.EVENTS, len(classes), 0, None)
    windows = index.window_part_names
    done = set(head_tables.scored_parts(index.path, name)) & set(windows)
    removed = 0
    for table in (head_tables.SCORES, head_tables.EVENTS):  # scores first: an orphan stops counting at once
        for part in set(head_tables.scored_parts(index.path, name, table)) - set(windows):
            os.remove(os.path.join(where, table, part))
            removed += table == head_tables.SCORES
    todo = [part for part in windows if part not in done]
    bar = None
    if progress and todo:
        import sys

        from tqdm.auto import tqdm

        # Only the parts' footers: the bar knows the windows to come without reading a column.
        total = sum(pq.ParquetFile(os.path.join(index.path, "windows", part)).metadata.num_rows for part in todo)
        bar = tqdm(total=total, unit="window", unit_scale=True, file=sys.stderr, desc=f"head {name}")
    staging = os.path.join(where, "_staging")
    scored = event_count = embedding_bytes = 0
    for part, data in index.window_parts(["path", "window", "start", "end", "embedding"], only=set(todo)):
        embedding_bytes += data.column("embedding").nbytes
        x = matrix_of(data.column("embedding").combine_chunks(), index.dims)
        scores = np.concatenate(
            [np.asarray(head.predict_on_batch(x[i : i + BATCH]), np.float32) for i in range(0, len(x), BATCH)]
            or [np.zeros((0, len(classes)), np.float32)]
        )
        del x
        written = []
        if events:
            rows = run_events(
                data.column("path").to_numpy(zero_copy_only=False),
                data.column("window").to_numpy(),
                data.column("start").to_numpy(),
                data.column("end").to_numpy(),
                scores,
                classes,
                record["thresholds"],
            )
            event_count += len(rows)
            columns = {field.name: [row[field.name] for row in rows] for field in event_schema}
            written.append((head_tables.EVENTS, pa.table(columns, schema=event_schema)))
        flat = pa.array(scores.reshape(-1), pa.float32())
        written.append(
            (
                head_tables.SCORES,
                pa.table(
                    [data.column("path"), data.column("window"), pa.FixedSizeListArray.from_arrays(flat, len(classes))],
                    schema=score_schema,
                ),
            )
        )
        for table, arrow in written:  # head_scores last: the part counts as done once it is in place
            os.makedirs(os.path.join(staging, table), exist_ok=True)
            partial = os.path.join(staging, table, f"{part}.{uuid.uuid4().hex}")
            pq.write_table(arrow, partial)
            os.makedirs(os.path.join(where, table), exist_ok=True)
            os.replace(partial, os.path.join(where, table, part))
        scored += len(scores)
        if bar is not None:
            bar.update(len(scores))
    if bar is not None:
        bar.close()
    shutil.rmtree(staging, ignore_errors=True)
    return ApplyReport(
        name=name,
        scored_parts=len(todo),
        scored_windows=scored,
        kept_parts=len(done),
        removed_parts=removed,
        events=event_count if events else None,
        seconds=time.perf_counter() - started,
        embedding_bytes=embedding_bytes,
    )
