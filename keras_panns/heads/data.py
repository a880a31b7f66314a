"""What a head learns from in an index: its labelled windows, and every other window as a weak negative.

A label with a start and an end labels the windows it covers (`search.labelled.covered_windows`: at least
half the shorter of the two); a label without them (a whole file) labels every window of the file. A window
covered by a positive and a negative of the same class is a positive (the negative was about another part of
the window). Uncertain labels are left out. The embeddings are read from the index part by part: the
labelled windows' first (`labelled_embeddings`), then the others as the stream of weak negatives
(`training.WeakNegatives`), so memory holds one part and the labelled windows whatever the index's size.

Example:
```python
examples = head_examples(index, read_label_file("labels.csv"), ["cuckoo"])
weak = index_weak_negatives(index, examples.rows)
```
"""

import dataclasses

import numpy as np

from keras_panns.errors import ArchiveError
from keras_panns.heads.training import WeakNegatives
from keras_panns.search.labelled import covered_windows


@dataclasses.dataclass
class HeadExamples:
    """The labelled windows of a head's classes.

    Attributes:
        classes: list of str. The head's classes (the columns).
        rows: int64 array `(n,)`. The windows' rows in the index (search keys), sorted.
        targets: float32 array `(n, classes)`, 1 for a positive.
        labelled: bool array `(n, classes)`: which targets are labels.
        paths: array `(n,)` of str. Each window's file (cross-validation keeps a file in one fold).

    Example:
    ```python
    examples.targets[examples.labelled[:, 0], 0].mean()  # the first class's share of positives
    ```
    """

    classes: list
    rows: np.ndarray
    targets: np.ndarray
    labelled: np.ndarray
    paths: np.ndarray

    def counts(self):
        """Per class, its positive and negative windows.

        Returns:
            dict class -> {"positives": int, "negatives": int}.

        Example:
        ```python
        examples.counts()  # {'cuckoo': {'positives': 40, 'negatives': 180}}
        ```
        """
        positives = (self.targets > 0.5) & self.labelled
        return {
            name: {
                "positives": int(positives[:, c].sum()),
                "negatives": int((self.labelled[:, c] & ~positives[:, c]).sum()),
            }
            for c, name in enumerate(self.classes)
        }


def head_examples(index, labels, classes):
    """The windows `labels` label for `classes`, with their targets.

    Args:
        index: `keras_panns.Index`.
        labels: pandas DataFrame (path, start, end, label, label_type), paths the index's.
        classes: sequence of str. The head's classes.

    Returns:
        `HeadExamples`.

    Raises:
        ArchiveError: no window is labelled for any of `classes`.

    Example:
    ```python
    examples = head_examples(index, read_label_file("labels.csv"), ["cuckoo", "blackbird"])
    ```
    """
    classes = list(classes)
    windows = index.windows[["path", "start", "end"]].assign(row=np.arange(len(index.windows)))
    labels = labels[labels.label.isin(classes) & (labels.label_type != "uncertain")]
    labels = labels.assign(positive=labels.label_type == "positive")
    found = {}  # class column -> Series row -> positive
    for c, name in enumerate(classes):
        mine = labels[labels.label == name]
        parts = []
        spans = mine[mine.start.notna() & mine.end.notna()]
        if len(spans):
            parts.append(covered_windows(windows, spans)[["row", "positive"]])
        files = mine[mine.start.isna() | mine.end.isna()]
        if len(files):
            whole = files.groupby("path")["positive"].any().rename("positive").reset_index()
            parts.append(windows.merge(whole, on="path")[["row", "positive"]])
        if parts:
            import pandas as pd

            found[c] = pd.concat(parts).groupby("row")["positive"].any()
    rows = np.array(sorted({int(r) for series in found.values() for r in series.index}), np.int64)
    if not len(rows):
        raise ArchiveError(f"{index.path}: no window is labelled for {', '.join(classes)}")
    position = {row: i for i, row in enumerate(rows)}
    targets = np.zeros((len(rows), len(classes)), np.float32)
    labelled = np.zeros((len(rows), len(classes)), bool)
    for c, series in found.items():
        at = np.array([position[int(r)] for r in series.index], np.int64)
        labelled[at, c] = True
        targets[at, c] = series.to_numpy(bool)
    return HeadExamples(classes, rows, targets, labelled, windows.path.to_numpy()[rows])


def labelled_embeddings(index, rows):
    """The embeddings of some windows, read one part at a time (`Index.embeddings` reads the whole column).

    Args:
        index: `keras_panns.Index` with embeddings.
        rows: sorted int array. Window rows (search keys).

    Returns:
        float32 array `(len(rows), embedding_size)`, in the order of `rows`.

    Raises:
        ArchiveError: the index holds no embeddings (the message names `--outputs embeddings`).

    Example:
    ```python
    x = labelled_embeddings(index, examples.rows)
    ```
    """
    rows = np.asarray(rows, np.int64)
    taken = np.zeros((len(rows), int(index.manifest["embedding_size"])), np.float32)
    for first, block in index.embedding_parts():
        inside = (rows >= first) & (rows < first + len(block))
        taken[inside] = block[rows[inside] - first]
    return taken


def index_weak_negatives(index, exclude_rows, seed=0):
    """The index's other windows as a `WeakNegatives` stream, read one Parquet part at a time.

    Args:
        index: `keras_panns.Index` with embeddings.
        exclude_rows: sequence of int. Rows left out (the labelled windows).
        seed: int. The order within each part.

    Returns:
        `training.WeakNegatives`.

    Raises:
        ArchiveError: the index holds no embeddings (the message names `--outputs embeddings`).

    Example:
    ```python
    weak = index_weak_negatives(index, examples.rows)
    weak.take(512)
    ```
    """
    if "embeddings" not in index.outputs:
        next(index.embedding_parts())  # raises, naming the flag that makes them
    excluded = np.unique(np.asarray(exclude_rows, np.int64))

    def blocks():
        for first, block in index.embedding_parts():
            inside = excluded[(excluded >= first) & (excluded < first + len(block))] - first
            keep = np.ones(len(block), bool)
            keep[inside] = False
            yield block[keep]

    return WeakNegatives(blocks, len(index.windows) - len(excluded), seed)
