"""The 527 AudioSet classes, shipped with the package (output unit i = row i)."""

import csv
import functools
import importlib.resources


@functools.lru_cache(maxsize=None)
def _audioset_table():
    text = importlib.resources.files("keras_panns").joinpath("assets/audioset_labels.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return tuple((int(r["index"]), r["mid"], r["display_name"]) for r in rows)


def audioset_labels():
    """Display names of the 527 AudioSet classes in output order.

    Example:
    ```python
    keras_panns.audioset_labels()[0]  # 'Speech'
    ```
    """
    return [name for _, _, name in _audioset_table()]


def audioset_mids():
    """Freebase machine ids (`/m/09x0r`, ...) of the 527 classes in output order."""
    return [mid for _, mid, _ in _audioset_table()]
