"""The Parquet store: retiring changed files leaves each file once, and a crash at any step loses nothing for good."""

import os

import pandas as pd
import pytest

from keras_panns.archive.store import TABLES, IndexStore

MANIFEST = {"format": "keras-panns-index/1", "num_classes": 3, "embedding_size": 2, "outputs": ["embeddings"]}


def _file(path, mtime=1.0, windows=2):
    return dict(
        path=path, size=10, mtime=mtime, duration=1.0, sample_rate=32000, channels=1, windows=windows, status="ok"
    )


def _windows(path, n=2, value=0.0):
    return [dict(path=path, window=i, start=float(i), end=i + 1.0, embedding=[value, 1.0]) for i in range(n)]


def _store(tmp_path):
    store = IndexStore(str(tmp_path / "index"))
    store.open(dict(MANIFEST))
    # Two parts: a.wav and b.wav together, c.wav alone.
    store.commit({"files": [_file("a.wav"), _file("b.wav")], "windows": _windows("a.wav") + _windows("b.wav")})
    store.commit({"files": [_file("c.wav")], "windows": _windows("c.wav")})
    return store


def _rows(store, table):
    return store.read(table).to_pandas()


def test_retiring_takes_out_only_those_files_and_renames_the_parts_it_touches(tmp_path):
    store = _store(tmp_path)
    before = set(store._parts("files"))
    assert store.retire(["b.wav", "c.wav"]) == 2
    assert sorted(_rows(store, "files").path) == ["a.wav"]
    assert sorted(_rows(store, "windows").path) == ["a.wav", "a.wav"]
    after = set(store._parts("files"))
    assert len(after) == 1 and not after & before  # a part that changed has a new name (search graphs rebuild)
    assert set(store._parts("windows")) == after and not os.listdir(os.path.join(store.root, "_staging", "files"))
    assert store.retire(["b.wav"]) == 0  # already gone


def _crash_at(monkeypatch, step):
    """Lets `step` filesystem moves and removals happen, then fails the next, as a killed job would."""
    calls = {"n": 0}
    real_replace, real_remove = os.replace, os.remove

    def counted(real):
        def run(*args):
            if calls["n"] == step:
                raise KeyboardInterrupt("killed")
            calls["n"] += 1
            return real(*args)

        return run

    monkeypatch.setattr(os, "replace", counted(real_replace))
    monkeypatch.setattr(os, "remove", counted(real_remove))
    return calls


@pytest.mark.parametrize("step", range(6))
def test_a_crash_while_retiring_never_duplicates_and_the_rerun_finishes_it(tmp_path, monkeypatch, step):
    store = _store(tmp_path)
    with monkeypatch.context() as patch:
        _crash_at(patch, step)
        try:
            store.retire(["b.wav"])
        except KeyboardInterrupt:
            pass
    # What a rerun sees after `open` (which removes parts whose files part never arrived): each file at most
    # once, windows only for files listed, and a.wav is either still done or to be indexed again.
    store = IndexStore(store.root)
    store.open(dict(MANIFEST))
    files, windows = _rows(store, "files"), _rows(store, "windows")
    assert files.path.is_unique and set(windows.path) <= set(files.path)
    assert (windows.groupby("path").size() == 2).all()
    store.retire(["b.wav"])  # the rerun retires what is left of it
    files = _rows(store, "files")
    assert "b.wav" not in set(files.path) and "c.wav" in set(files.path)
    assert {t: len(_rows(store, t)) for t in ("files", "windows")} == {
        "files": len(files),
        "windows": 2 * len(files),
    }
    assert all(pd.Series(store._parts(t)).isin(store._parts("files")).all() for t in TABLES if store._parts(t))
