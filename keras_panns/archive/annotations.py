"""The index's annotations table: labels people give to spans of indexed files, added one import at a time.

Each import is checked whole, then written as one Parquet part under
`_staging/` and renamed into `annotations/`: an interrupted import leaves
nothing, a finished one is all there. An import records its provenance (the
file's name and sha256), so importing the same file again is refused rather
than doubled.

Checks, each a clear error naming the rows: a class the model does not have
(with close names), a positive and a negative for the same class on the same
span (within the import or against what the index holds). Labels for files
the index does not hold are kept (the file may be indexed later) and listed.

With `own_classes`, names that are not the model's are your own classes
(for `keras-panns classify train`), kept beside the model's; only a name that
differs from a model class by case alone is refused, as a likely typo.

Example:
```python
from keras_panns.archive.annotations import Annotations

annotations = Annotations("recordings.index", labels=index.labels, files=index.files.path)
report = annotations.add(read_label_file("review.csv"), provenance="review.csv sha256:...")
annotations.read()  # pandas DataFrame of every label
```
"""

import dataclasses
import difflib
import os
import uuid

from keras_panns.archive.reader import STAGING, IndexReader
from keras_panns.errors import ArchiveError

TABLE = "annotations"  # declared in schema.ADDED_TABLES


@dataclasses.dataclass
class ImportReport:
    """What one import added.

    Attributes:
        rows: int. Labels written.
        by_type: dict label_type -> count.
        classes: int. Distinct classes.
        resolved: int. Labels whose path was matched to an indexed file by name (see `resolve_paths`).
        missing_files: list of str. Paths the index does not hold (kept; listed here).
        part: str or None. The part written.

    Example:
    ```python
    print(report.summary())
    ```
    """

    rows: int
    by_type: dict
    classes: int
    resolved: int
    missing_files: list
    part: str = None

    def summary(self):
        kinds = ", ".join(f"{count:,} {kind}" for kind, count in sorted(self.by_type.items()))
        line = f"{self.rows:,} labels ({kinds}) of {self.classes} classes"
        if self.resolved:
            line += f"; {self.resolved:,} paths matched to indexed files by name"
        if self.missing_files:
            shown = ", ".join(self.missing_files[:5]) + (" ..." if len(self.missing_files) > 5 else "")
            line += f"; {len(self.missing_files):,} files are not in the index (kept): {shown}"
        return line


def resolve_paths(paths, indexed):
    """Matches label paths to the index's files: the same path, else the same file name, else the same stem.

    AudioSet's files name a clip by its YouTube id (and start): a stem `Y<ytid>` or `<ytid>_<start ms>`
    matches its label too. A name that fits several indexed files is not guessed.

    Args:
        paths: iterable of str, as the label file spells them.
        indexed: iterable of str, the index's `files.path`.

    Returns:
        dict label path -> indexed path (only the paths matched).

    Example:
    ```python
    resolve_paths(["dog.wav"], ["/data/esc10/dog.wav"])  # {'dog.wav': '/data/esc10/dog.wav'}
    ```
    """
    indexed = list(indexed)
    exact = set(indexed)
    keys = {}
    for path in indexed:
        base = os.path.basename(path)
        stem = os.path.splitext(base)[0]
        for key in {base, stem, stem[1:] if stem.startswith("Y") else stem}:
            keys.setdefault(key, set()).add(path)
    matched = {}
    for path in set(paths):
        if path in exact:
            matched[path] = path
            continue
        base = os.path.basename(path)
        for key in (base, os.path.splitext(base)[0]):
            hits = keys.get(key, ())
            if len(hits) == 1:
                matched[path] = next(iter(hits))
                break
    return matched


def check_classes(frame, labels, source):
    """Refuses labels that are not among `labels`, naming each with its rows and close names.

    Args:
        frame: pandas DataFrame with a `label` column (rows numbered as in their file: index + 2).
        labels: sequence of str. The model's classes.
        source: str. The labels' file, for the message.

    Raises:
        ArchiveError: some labels are unknown.

    Example:
    ```python
    check_classes(read_label_file("labels.csv"), index.labels, "labels.csv")
    ```
    """
    labels = list(labels)
    unknown = sorted(set(frame.label) - set(labels))
    if unknown:
        lines = []
        for name in unknown[:10]:
            close = difflib.get_close_matches(name, labels, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            rows = ", ".join(str(i + 2) for i in frame.index[frame.label == name][:5])
            lines.append(f"{name!r}, rows {rows}{hint}")
        raise ArchiveError(
            f"{source}: {len(unknown)} labels are not classes of this index's model:\n  " + "\n  ".join(lines)
        )


def check_own_classes(frame, labels, source):
    """Refuses own class names that differ from a model class by case alone (a likely typo), naming them.

    Args:
        frame: pandas DataFrame with a `label` column.
        labels: sequence of str. The model's classes.
        source: str. The labels' file, for the message.

    Raises:
        ArchiveError: such names.

    Example:
    ```python
    check_own_classes(read_label_file("cuckoo.csv"), index.labels, "cuckoo.csv")
    ```
    """
    exact = set(labels)
    folded = {name.casefold(): name for name in labels}
    clashes = sorted({name for name in set(frame.label) - exact if name.casefold() in folded})
    if clashes:
        shown = ", ".join(f"{name!r} (the model's {folded[name.casefold()]!r})" for name in clashes[:5])
        raise ArchiveError(
            f"{source}: labels named like a model class but for case: {shown}; spell the model's class exactly, "
            "or rename your own class"
        )


def resolve_labels(frame, labels, files, source, own_classes=False):
    """A label file's rows checked against the model's classes, their paths matched to the indexed files.

    Args:
        frame: pandas DataFrame with `label_files.COLUMNS` (rows numbered as in their file: index + 2).
        labels: sequence of str. The model's classes.
        files: iterable of str or None. The indexed paths (None: paths kept as they are).
        source: str. The labels' file, for messages.
        own_classes: bool. Keep names the model lacks as your own classes (see `check_own_classes`).

    Returns:
        `(frame, resolved, missing)`: the rows with matched paths, how many paths were matched by name, and
        the sorted paths the index does not hold.

    Raises:
        ArchiveError: labels that are not the model's classes (see `check_classes`).

    Example:
    ```python
    frame, resolved, missing = resolve_labels(read_label_file("a.csv"), index.labels, index.files.path, "a.csv")
    ```
    """
    if own_classes:
        check_own_classes(frame, labels, source)
    else:
        check_classes(frame, labels, source)
    if files is None:
        return frame, 0, []
    matched = resolve_paths(frame.path, files)
    resolved = sum(1 for path, target in matched.items() if path != target)
    missing = sorted(set(frame.path) - set(matched))
    return frame.assign(path=[matched.get(p, p) for p in frame.path]), resolved, missing


class Annotations:
    """The annotations of one index: read them, add an import.

    Args:
        root: str or path-like. The index directory.
        labels: sequence of str. The model's classes (`Index.labels`).
        files: iterable of str or None. The indexed paths, to resolve and list label paths against.
        own_classes: bool. `add` keeps names the model lacks as your own classes.

    Example:
    ```python
    Annotations("recordings.index", labels=index.labels, files=index.files.path).read()
    ```
    """

    #: What `read` can return: every label, the model's classes' or your own classes'.
    WHICH = ("all", "model", "own")

    def __init__(self, root, labels, files=None, own_classes=False):
        self.reader = IndexReader(root)
        if self.reader.manifest is None:
            raise ArchiveError(f"{self.reader.root}: not a keras-panns index (no manifest.json)")
        self.labels = list(labels)
        self.files = None if files is None else list(files)
        self.own_classes = own_classes

    def read(self, which="all"):
        """The labels in the index, in import order.

        Args:
            which: str. `all`; `model`: those of the model's classes (what `calibrate` and `evaluate` use);
                `own`: those of your own classes (what `classify train` uses).

        Returns:
            pandas DataFrame with the annotations table's columns (empty when nothing was imported).

        Raises:
            ValueError: another `which`.

        Example:
        ```python
        annotations.read().groupby("label").size()
        ```
        """
        if which not in self.WHICH:
            raise ValueError(f"which must be one of {', '.join(self.WHICH)}, not {which!r}")
        frame = self.reader.read(TABLE).to_pandas()
        if which == "all":
            return frame
        mine = frame.label.isin(self.labels)
        return frame[mine if which == "model" else ~mine].reset_index(drop=True)

    def provenances(self):
        """The provenance of every import so far.

        Returns:
            set of str.

        Example:
        ```python
        "labels.csv sha256:1f2e..." in annotations.provenances()
        ```
        """
        return set(self.reader.read(TABLE, ["provenance"]).column("provenance").to_pylist())

    @staticmethod
    def _check_conflicts(frame, existing, source):
        import pandas as pd

        both = pd.concat([existing.assign(_row=-1), frame.assign(_row=frame.index + 2)], ignore_index=True)
        both = both[both.label_type != "uncertain"]
        key = ["path", "start", "end", "label"]
        spans = both.fillna({"start": -1.0, "end": -1.0}).groupby(key, dropna=False)["label_type"].nunique()
        clashes = spans[spans > 1]
        if len(clashes):
            lines = []
            for path, start, end, label in clashes.index[:10]:
                span = "the whole file" if start < 0 else f"{start:g}-{end:g} s"
                rows = both[(both.path == path) & (both.label == label) & (both.start.fillna(-1.0) == start)]
                where = ", ".join("the index" if r < 0 else f"row {r}" for r in sorted(set(rows._row)))
                lines.append(f"{path} {span} {label!r}: positive and negative ({where})")
            raise ArchiveError(
                f"{source}: {len(clashes)} spans are labelled both positive and negative; keep one of each:\n  "
                + "\n  ".join(lines)
            )

    def add(self, frame, provenance):
        """Checks one import and writes it as one part (nothing is written if a check fails).

        Args:
            frame: pandas DataFrame with `label_files.COLUMNS`.
            provenance: str. Where the labels come from (file name and sha256, reviewer, ...).

        Returns:
            `ImportReport`.

        Raises:
            ArchiveError: unknown classes, contradicting labels, an import already made, or an unwritable index.

        Example:
        ```python
        annotations.add(read_label_file("labels.csv"), provenance="labels.csv sha256:1f2e...")
        ```
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        existing = self.read()  # once: the provenances and the conflicts are checked against it
        if provenance in set(existing.provenance):
            raise ArchiveError(f"{provenance}: already imported into {self.reader.root} (nothing added)")
        if frame.empty:
            raise ArchiveError(f"{provenance}: no labels to import")
        frame, resolved, missing = resolve_labels(
            frame.reset_index(drop=True), self.labels, self.files, provenance, self.own_classes
        )
        self._check_conflicts(frame, existing, provenance)
        arrow = self.reader.schema(TABLE)
        columns = {name: list(frame[name]) if name in frame else [provenance] * len(frame) for name in arrow.names}
        columns["start"] = [None if v != v else float(v) for v in columns["start"]]  # NaN: the whole file
        columns["end"] = [None if v != v else float(v) for v in columns["end"]]
        name = f"part-{uuid.uuid4().hex}.parquet"
        staging = os.path.join(self.reader.root, STAGING, TABLE)
        try:
            os.makedirs(staging, exist_ok=True)
            pq.write_table(pa.table(columns, schema=arrow), os.path.join(staging, name))
            os.makedirs(os.path.join(self.reader.root, TABLE), exist_ok=True)
            os.replace(os.path.join(staging, name), os.path.join(self.reader.root, TABLE, name))
        except OSError as exc:
            raise ArchiveError(f"{self.reader.root}: cannot write the annotations ({exc.strerror or exc})") from exc
        return ImportReport(
            rows=len(frame),
            by_type=frame.label_type.value_counts().to_dict(),
            classes=frame.label.nunique(),
            resolved=resolved,
            missing_files=missing,
            part=name,
        )
