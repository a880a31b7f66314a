"""Label files people already have, read into one table: path, start, end, label, label_type.

Formats (`FORMATS`; `"auto"` tells them apart by their header):

- `csv`: a plain CSV with columns `path,start,end,label[,label_type]` (empty start and end: the whole file;
  label_type positive, negative or uncertain, default positive). What `keras-panns label --export` writes.
- `raven`: a Raven selection table (tab-separated; `Begin Time (s)`, `End Time (s)`, the file in
  `Begin Path` or `Begin File`, the class in `Annotation`, `Label`, `Class` or `Species`).
- `audioset_strong`: AudioSet's strong labels (`segment_id	start_time_seconds	end_time_seconds	label`, the
  label a mid); the segment id `YTID_STARTMS` names the file.
- `audioset_segments`: AudioSet's clip-level CSV (`# YTID, start_seconds, end_seconds, positive_labels`):
  every listed class is positive for the whole clip.
- `hoplite`: perch-hoplite's `hoplite_annotations.csv` (`recording,label,start_offset_s,end_offset_s,
  label_type`), what its `AgileMetadata` reads into a hoplite database. `keras-panns label --export FILE
  --format hoplite` writes it (a whole-file label as its file's 0 to duration: hoplite has no other kind).

Classes are given by name or, for AudioSet's files, by mid; both become the ontology's names.

Example:
```python
table = read_label_file("review.csv")  # pandas DataFrame: path, start, end, label, label_type
```
"""

import csv
import os

from keras_panns.archive.schema import LABEL_TYPES
from keras_panns.errors import ArchiveError

FORMATS = ("auto", "csv", "raven", "audioset_strong", "audioset_segments", "hoplite")
COLUMNS = ("path", "start", "end", "label", "label_type")
#: perch-hoplite's annotations CSV, in its own column order (`agile/metadata.py`).
HOPLITE_COLUMNS = ("recording", "label", "start_offset_s", "end_offset_s", "label_type")
RAVEN_LABEL_COLUMNS = ("Annotation", "Label", "Class", "Species", "Common Name")


def _header(path):
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for line in f:
                if line.strip():
                    return line
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{path}: cannot read the label file ({exc})") from exc
    raise ArchiveError(f"{path}: the label file is empty")


def detect_format(path):
    """The format of a label file, from its first line.

    Args:
        path: str. The label file.

    Returns:
        str, one of `FORMATS` other than `"auto"`.

    Raises:
        ArchiveError: the header matches no format (the message lists what each expects).

    Example:
    ```python
    detect_format("selections.txt")  # 'raven'
    ```
    """
    header = _header(path)
    if header.startswith("segment_id\t"):
        return "audioset_strong"
    if header.startswith("# YTID") or header.startswith("# Segments csv"):
        return "audioset_segments"
    if "\t" in header and "Begin Time (s)" in header:
        return "raven"
    fields = [f.strip() for f in next(csv.reader([header]))]
    if {"recording", "label", "start_offset_s", "end_offset_s"} <= set(fields):
        return "hoplite"
    if {"path", "label"} <= set(fields):
        return "csv"
    raise ArchiveError(
        f"{path}: unknown label file (first line {header.strip()[:80]!r}); expected a CSV with columns "
        "path,start,end,label[,label_type], a Raven selection table, AudioSet's strong-label TSV, its "
        "segments CSV or perch-hoplite's annotations CSV (recording,label,start_offset_s,end_offset_s,label_type)"
    )


def _number(value, path, row, column):
    if value is None or str(value).strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ArchiveError(f"{path}, row {row}: {column} {value!r} is not a number of seconds") from None


def _class_name(value):
    from keras_panns.labels import ontology

    value = value.strip()
    node = ontology().get(value) if value.startswith("/") else None
    return node["name"] if node else value


def _csv_rows(path, names):
    """Rows of a CSV whose columns `names` maps to ours (path, start, end, label, label_type)."""
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=2):
            label_type = (row.get(names["label_type"]) or "positive").strip().lower()
            if label_type not in LABEL_TYPES:
                raise ArchiveError(
                    f"{path}, row {number}: label_type {label_type!r} is not one of {', '.join(LABEL_TYPES)}"
                )
            rows.append(
                (
                    (row.get(names["path"]) or "").strip(),
                    _number(row.get(names["start"]), path, number, names["start"]),
                    _number(row.get(names["end"]), path, number, names["end"]),
                    _class_name(row.get(names["label"]) or ""),
                    label_type,
                )
            )
    return rows


def _plain_csv(path):
    return _csv_rows(path, {name: name for name in COLUMNS})


def _hoplite(path):
    return _csv_rows(path, dict(zip(("path", "label", "start", "end", "label_type"), HOPLITE_COLUMNS)))


def _raven(path):
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        fields = reader.fieldnames or []
        file_column = next((c for c in ("Begin Path", "Begin File") if c in fields), None)
        label_column = next((c for c in RAVEN_LABEL_COLUMNS if c in fields), None)
        if file_column is None or label_column is None:
            raise ArchiveError(
                f"{path}: a Raven selection table needs a 'Begin Path' or 'Begin File' column and a class "
                f"column ({', '.join(RAVEN_LABEL_COLUMNS)}); it has {', '.join(fields)}"
            )
        for number, row in enumerate(reader, start=2):
            rows.append(
                (
                    row[file_column].strip(),
                    _number(row.get("Begin Time (s)"), path, number, "Begin Time (s)"),
                    _number(row.get("End Time (s)"), path, number, "End Time (s)"),
                    _class_name(row[label_column]),
                    "positive",
                )
            )
    return rows


def _audioset_strong(path):
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f, delimiter="\t"), start=2):
            rows.append(
                (
                    row["segment_id"].strip(),
                    _number(row["start_time_seconds"], path, number, "start_time_seconds"),
                    _number(row["end_time_seconds"], path, number, "end_time_seconds"),
                    _class_name(row["label"]),
                    "positive",
                )
            )
    return rows


def _audioset_segments(path):
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = next(csv.reader([line], skipinitialspace=True))
            ytid, labels = fields[0].strip(), fields[3]
            start_ms = int(round(float(fields[1]) * 1000))
            for mid in labels.split(","):
                rows.append((f"{ytid}_{start_ms}", None, None, _class_name(mid), "positive"))
    return rows


READERS = {
    "csv": _plain_csv,
    "raven": _raven,
    "audioset_strong": _audioset_strong,
    "audioset_segments": _audioset_segments,
    "hoplite": _hoplite,
}


def read_label_file(path, format="auto"):
    """Reads one label file into the common layout.

    Args:
        path: str or path-like.
        format: str. One of `FORMATS`.

    Returns:
        pandas DataFrame with `COLUMNS` (start and end NaN for a whole-file label), in the file's order.

    Raises:
        ArchiveError: unreadable, of no known format, or a bad value (the row is named).

    Example:
    ```python
    read_label_file("audioset_eval_strong.tsv").label.unique()[:3]
    ```
    """
    import pandas as pd

    path = os.fspath(path)
    if format not in FORMATS:
        raise ArchiveError(f"label format must be one of {', '.join(FORMATS)}, got {format!r}")
    chosen = detect_format(path) if format == "auto" else format
    try:
        rows = READERS[chosen](path)
    except KeyError as exc:
        raise ArchiveError(f"{path}: not a {chosen} label file (no column {exc})") from exc
    except (OSError, UnicodeDecodeError, csv.Error, IndexError, ValueError) as exc:
        raise ArchiveError(f"{path}: cannot read it as a {chosen} label file ({exc})") from exc
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame[["start", "end"]] = frame[["start", "end"]].astype("float64")
    empty = frame.index[(frame.path == "") | (frame.label == "")]
    if len(empty):
        raise ArchiveError(f"{path}: rows without a path or a label: {', '.join(str(i + 2) for i in empty[:10])}")
    bad = frame.index[frame.start.notna() & frame.end.notna() & (frame.end <= frame.start)]
    if len(bad):
        raise ArchiveError(
            f"{path}: rows whose end is not after their start: {', '.join(str(i + 2) for i in bad[:10])}"
        )
    return frame


def write_label_csv(frame, path, format="csv", durations=None):
    """Writes labels as a CSV that `read_label_file` reads back (atomically): ours, or perch-hoplite's.

    Args:
        frame: pandas DataFrame with `COLUMNS` (more columns are left out).
        path: str or path-like. The CSV to write.
        format: str. `"csv"` (`COLUMNS`) or `"hoplite"` (`HOPLITE_COLUMNS`).
        durations: dict path -> seconds, or None. With `"hoplite"`, the end of a whole-file label.

    Raises:
        ArchiveError: another format, or a whole-file label for hoplite without its file's duration.

    Example:
    ```python
    write_label_csv(annotations, "hoplite_annotations.csv", "hoplite", durations=dict(zip(files.path, files.duration)))
    ```
    """
    from keras_panns.atomic import atomic_write

    if format not in ("csv", "hoplite"):
        raise ArchiveError(f"labels are written as csv or hoplite, not {format!r}")
    table = frame.loc[:, list(COLUMNS)].copy()
    if format == "hoplite":
        whole = table.start.isna() | table.end.isna()
        known = table.path.map(durations or {})
        missing = table.path[whole & known.isna()]
        if len(missing):
            raise ArchiveError(
                f"{path}: hoplite has no whole-file labels and the duration of {missing.iloc[0]} is unknown"
            )
        table.loc[whole, "start"] = 0.0
        table.loc[whole, "end"] = known[whole]
        table = table.rename(
            columns=dict(zip(("path", "start", "end"), ("recording", "start_offset_s", "end_offset_s")))
        )
        table = table.loc[:, list(HOPLITE_COLUMNS)]
    with atomic_write(os.fspath(path)) as f:
        table.to_csv(f, index=False, float_format="%.6g")
