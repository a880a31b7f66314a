"""A head's labelled windows and weak negatives, read from an index written with embeddings."""

import json

import numpy as np
import pandas as pd
import pytest

from keras_panns.archive.store import IndexStore
from keras_panns.errors import ArchiveError
from keras_panns.heads.data import head_examples, index_weak_negatives, labelled_embeddings
from keras_panns.heads.training import cross_validate_head
from keras_panns.search.index import Index
from keras_panns.testing import REPO

INDEX_V1 = REPO / "tests" / "data" / "index_v1"
FILES, WINDOWS, SIZE = 12, 10, 4


def _write(root, outputs=("embeddings",), files_per_part=3, numbered=True):
    """`FILES` files of `WINDOWS` 1-s windows; a window's embedding starts with its row as written (or 0 when
    not `numbered`), then 3 features: a "cuckoo" file's windows 2-4 lie near (3, 0, 0), the rest near 0."""
    manifest = json.loads((INDEX_V1 / "manifest.json").read_text())
    manifest.update(outputs=list(outputs), embedding_size=SIZE, hop_seconds=1.0)
    store = IndexStore(root)
    store.open(manifest)
    rng = np.random.default_rng(0)
    row = 0
    for first in range(0, FILES, files_per_part):
        files, windows = [], []
        for file in range(first, first + files_per_part):
            path = f"/archive/rec{file:02d}.wav"
            files.append(dict(path=path, size=1, mtime=1.0, duration=float(WINDOWS), sample_rate=32000, channels=1,
                              windows=WINDOWS, status="ok"))  # fmt: skip
            for w in range(WINDOWS):
                features = rng.normal(0, 0.3, 3) + ([3.0, 0, 0] if file % 2 == 0 and 2 <= w <= 4 else 0.0)
                window = dict(path=path, window=w, start=float(w), end=w + 1.0)
                if "embeddings" in outputs:
                    window["embedding"] = [float(row) if numbered else 0.0, *features.tolist()]
                if "scores" in outputs:
                    window["scores"] = [0.1, 0.2, 0.3]
                windows.append(window)
                row += 1
        store.commit({"files": files, "windows": windows})
    return Index(root)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("heads") / "index")


def _labels():
    rows = []
    for file in range(FILES):
        path = f"/archive/rec{file:02d}.wav"
        if file % 2 == 0:
            rows.append((path, 2.0, 5.0, "cuckoo", "positive"))
            rows.append((path, 6.0, 10.0, "cuckoo", "negative"))
        else:
            rows.append((path, np.nan, np.nan, "cuckoo", "negative"))  # the whole file holds none
    rows.append(("/archive/rec00.wav", 4.0, 5.0, "cuckoo", "negative"))  # under the positive span: stays positive
    rows.append(("/archive/rec01.wav", 0.0, 1.0, "cuckoo", "uncertain"))  # left out: the file's negative holds
    rows.append(("/archive/rec01.wav", 0.0, 1.0, "owl", "positive"))
    return pd.DataFrame(rows, columns=["path", "start", "end", "label", "label_type"])


def test_spans_label_the_windows_they_cover_and_files_all_of_theirs(index):
    examples = head_examples(index, _labels(), ["cuckoo", "owl"])
    assert examples.counts() == {
        "cuckoo": {"positives": 6 * 3, "negatives": 6 * 4 + 6 * WINDOWS},
        "owl": {"positives": 1, "negatives": 0},
    }
    rows = index.windows.assign(row=range(len(index.windows))).set_index(["path", "window"]).row
    cuckoo = examples.targets[:, 0] > 0.5
    assert set(examples.rows[cuckoo]) == {
        rows[(f"/archive/rec{f:02d}.wav", w)] for f in range(0, FILES, 2) for w in (2, 3, 4)
    }
    assert set(examples.paths) == {f"/archive/rec{f:02d}.wav" for f in range(FILES)}
    owl = examples.labelled[:, 1]
    assert list(examples.rows[owl]) == [rows[("/archive/rec01.wav", 0)]] and examples.labelled[owl, 0].all()
    with pytest.raises(ArchiveError, match="no window is labelled for heron"):
        head_examples(index, _labels(), ["heron"])


def test_the_weak_negatives_are_every_other_window_part_by_part(index):
    examples = head_examples(index, _labels(), ["cuckoo"])
    weak = index_weak_negatives(index, examples.rows)
    assert weak.count == FILES * WINDOWS - len(examples.rows)
    seen = weak.take(weak.count)[:, 0].astype(int)
    labelled = set(index.embeddings(examples.rows)[:, 0].astype(int))  # what was written, not search keys
    assert sorted(seen) == sorted(set(range(FILES * WINDOWS)) - labelled)
    assert weak.take(3).shape == (3, SIZE)  # the stream goes round again


def test_a_head_learns_the_labelled_class_from_the_index(index):
    examples = head_examples(index, _labels(), ["cuckoo"])
    x = labelled_embeddings(index, examples.rows)
    np.testing.assert_array_equal(x, index.embeddings(examples.rows))  # part by part, the same rows
    x = x[:, 1:]  # without the row number
    _, (record,) = cross_validate_head(
        x, examples.targets, examples.labelled, examples.paths, folds=3, epochs=40, batch_size=32, learning_rate=1e-2
    )
    assert record["positives"] == 18 and record["ap"] > 0.9 and record["roc_auc"] > 0.9


def test_an_index_without_embeddings_names_the_flag(tmp_path):
    plain = _write(tmp_path / "plain", outputs=("scores",))
    with pytest.raises(ArchiveError, match="--outputs .*embeddings"):
        index_weak_negatives(plain, [])
