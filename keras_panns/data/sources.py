"""What to pack: AudioSet segment lists matched to downloaded clips, or a generic `path,labels` CSV."""

import csv
import dataclasses
import os
import re

from keras_panns.errors import DataError


@dataclasses.dataclass(frozen=True)
class Example:
    """One clip to pack.

    Attributes:
        id: str. Unique id (the AudioSet `YTID_start` or the file path).
        path: str or None. The audio file (None: listed but not found).
        labels: tuple of int. Class indices.

    Example:
    ```python
    Example(id="--PJHxphWEs_30000", path="audio/Y--PJHxphWEs.wav", labels=(0, 137))
    ```
    """

    id: str
    path: str
    labels: tuple


@dataclasses.dataclass(frozen=True)
class Segment:
    """A row of an AudioSet segment CSV."""

    ytid: str
    start: float
    end: float
    mids: tuple


def read_segments(path):
    """Parses an AudioSet segment CSV (`# ` header lines, then `YTID, start, end, "mid,mid"`).

    Args:
        path: str. The CSV, a local file.

    Returns:
        A list of `Segment`, in file order.

    Raises:
        DataError: a row that is not `YTID, start, end, "mids"` (its number is named).

    Example:
    ```python
    segments = read_segments("balanced_train_segments.csv")
    segments[0].ytid, segments[0].mids   # ('--PJHxphWEs', ('/m/09x0r', '/t/dd00088'))
    ```
    """
    segments = []
    with open(path, newline="", encoding="utf-8") as f:
        lines = (line for line in f if line.strip() and not line.startswith("#"))
        for number, row in enumerate(csv.reader(lines, skipinitialspace=True), 1):
            if len(row) != 4:
                raise DataError(
                    f"{path}: data row {number} has {len(row)} fields, expected "
                    f'YTID, start_seconds, end_seconds, "labels": {row}'
                )
            try:
                start, end = float(row[1]), float(row[2])
            except ValueError as exc:
                raise DataError(f"{path}: data row {number}: bad start/end {row[1:3]}") from exc
            segments.append(Segment(row[0], start, end, tuple(m.strip() for m in row[3].split(",") if m.strip())))
    return segments


_AUDIOSET_NAME = re.compile(r"^Y?(?P<ytid>[A-Za-z0-9_-]{11})(?:_(?P<start>\d+(?:\.\d+)?)_(?P<end>\d+(?:\.\d+)?))?$")


def _index_directory(directory):
    """Maps (ytid, start) and ytid to files named like common AudioSet downloaders do."""
    by_segment, by_ytid = {}, {}
    for root, _, names in os.walk(directory):
        for name in names:
            match = _AUDIOSET_NAME.match(os.path.splitext(name)[0])
            if not match:
                continue
            path = os.path.join(root, name)
            ytid = match["ytid"]
            by_ytid.setdefault(ytid, path)
            if match["start"] is not None:
                start = float(match["start"])
                # Downloaders write the start in seconds (30, 30.000) or in milliseconds (30000).
                for seconds in {start, start / 1000.0}:
                    by_segment[(ytid, round(seconds, 3))] = path
    return by_segment, by_ytid


def audioset_examples(segment_csv, audio_dir, mids):
    """Matches the segments of `segment_csv` to the clips found under `audio_dir`.

    File names understood: `Y<YTID>.<ext>` (audioset_tagging_cnn's downloader),
    `<YTID>.<ext>`, and `<YTID>_<start>_<end>.<ext>` with times in seconds or
    milliseconds; any audio extension.

    Args:
        segment_csv: str. An AudioSet segment list.
        audio_dir: str. Directory searched recursively.
        mids: list of str. Class ids in output order (e.g. `labels.audioset_mids()`).

    Returns:
        A list of `Example`, one per segment, in CSV order; `path` is None when
        no file was found.

    Raises:
        DataError: a label id that is not in `mids`.

    Example:
    ```python
    examples = audioset_examples("balanced_train_segments.csv", "audio/", keras_panns.labels.audioset_mids())
    found = [e for e in examples if e.path is not None]
    ```
    """
    index = {mid: i for i, mid in enumerate(mids)}
    by_segment, by_ytid = _index_directory(audio_dir)
    examples = []
    for segment in read_segments(segment_csv):
        unknown = [m for m in segment.mids if m not in index]
        if unknown:
            raise DataError(f"{segment_csv}: {segment.ytid} has labels outside the class list: {unknown}")
        path = by_segment.get((segment.ytid, round(segment.start, 3))) or by_ytid.get(segment.ytid)
        examples.append(
            Example(f"{segment.ytid}_{segment.start:g}", path, tuple(sorted(index[m] for m in segment.mids)))
        )
    return examples


def generic_examples(
    csv_path, *, audio_dir=None, path_column="path", label_column="labels", label_names=None, separator=";"
):
    """Reads a `path,labels` CSV (ESC-50 and the like) into examples.

    Args:
        csv_path: str. A CSV with a header row.
        audio_dir: str or None. Base directory of relative paths (default: the CSV's folder).
        path_column: str. Column names (ESC-50: `filename`, `category`).
        label_column: str. Column names (ESC-50: `filename`, `category`).
        label_names: list of str or None. Class order; default: sorted unique labels.
        separator: str. Separates several labels in one cell (multi-label).

    Returns:
        `(examples, label_names)`.

    Raises:
        DataError: the CSV lacks a named column, or a row has labels outside the class list.

    Example:
    ```python
    examples, names = generic_examples("esc10.csv", audio_dir="audio", path_column="filename",
                                       label_column="category")
    ```
    """
    base = audio_dir if audio_dir is not None else os.path.dirname(os.path.abspath(csv_path))
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {path_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise DataError(
                f"{csv_path}: no column {sorted(missing)} (columns: {reader.fieldnames}); set path_column/label_column"
            )
        for row in reader:
            labels = [s.strip() for s in row[label_column].split(separator) if s.strip()]
            rows.append((row[path_column], labels))
    names = list(label_names) if label_names is not None else sorted({l for _, ls in rows for l in ls})
    index = {name: i for i, name in enumerate(names)}
    examples = []
    for path, labels in rows:
        unknown = [l for l in labels if l not in index]
        if unknown:
            raise DataError(f"{csv_path}: {path} has labels outside the class list: {unknown}")
        full = path if "://" in path or os.path.isabs(path) else os.path.join(base, path)
        examples.append(Example(path, full, tuple(sorted(index[l] for l in labels))))
    return examples, names
