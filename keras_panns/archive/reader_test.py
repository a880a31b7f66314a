"""The read-only reader: an index written before it opens after it, and reading writes nothing."""

import os
import shutil
import stat

import pytest

from keras_panns.archive.reader import IndexReader
from keras_panns.archive.store import IndexStore
from keras_panns.errors import ArchiveError
from keras_panns.testing import REPO

INDEX_V1 = REPO / "tests" / "data" / "index_v1"


def _listing(root):
    return sorted(
        (os.path.relpath(os.path.join(d, n), root), os.path.getmtime(os.path.join(d, n)))
        for d, _, names in os.walk(root)
        for n in names
    )


def test_an_index_written_before_the_declared_schema_reads_the_same():
    before = _listing(INDEX_V1)
    reader = IndexReader(INDEX_V1)
    assert reader.manifest["outputs"] == ["embeddings", "events", "scores", "tags"]
    files = reader.read("files").to_pylist()
    assert [(f["path"], f["status"], f["windows"]) for f in sorted(files, key=lambda f: f["path"])] == [
        ("a.wav", "ok", 2),
        ("bad.wav", "error", 0),
    ]
    windows = reader.read("windows").to_pylist()
    assert [w["window"] for w in windows] == [0, 1] and windows[1]["embedding"] == [1.0, 0.0, 0.0, 1.0]
    assert windows[0]["top_labels"] == ["Dog", "Speech"] and len(windows[0]["scores"]) == 3
    assert reader.read("events").to_pylist()[0]["label"] == "Dog"
    assert reader.read("errors").column("error").to_pylist() == ["AudioError"]
    assert sorted(reader.done_keys().column("path").to_pylist()) == ["a.wav", "bad.wav"]
    assert _listing(INDEX_V1) == before  # reading wrote nothing


def test_the_search_api_opens_it(tmp_path):
    from keras_panns.search.index import Index

    archive = Index(INDEX_V1)
    assert len(archive.files) == 2 and len(archive.windows) == 2 and len(archive.events) == 1
    assert archive.scores().shape == (2, 3) and archive.embeddings().shape == (2, 4)


def test_a_writer_resumes_it(tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(INDEX_V1, copy)
    store = IndexStore(copy)
    store.open(IndexReader(copy).manifest)  # the same fingerprint: resumed, not refused
    row = dict(path="c.wav", size=3, mtime=3.0, duration=1.0, sample_rate=32000, channels=2, windows=0, status="ok")
    store.commit({"files": [row]})
    assert sorted(IndexReader(copy).done_keys().column("path").to_pylist()) == ["a.wav", "bad.wav", "c.wav"]


def test_reading_needs_no_write_access_and_creates_nothing(tmp_path):
    missing = tmp_path / "not-yet"
    assert IndexReader(missing).manifest is None and IndexReader(missing).done_keys().num_rows == 0
    assert not missing.exists()
    copy = tmp_path / "read-only"
    shutil.copytree(INDEX_V1, copy)
    for folder, _, names in os.walk(copy):
        for name in names:
            os.chmod(os.path.join(folder, name), stat.S_IRUSR)
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert IndexReader(copy).read("files").num_rows == 2
    finally:
        for folder, _, _ in os.walk(copy):
            os.chmod(folder, stat.S_IRWXU)


def test_a_broken_manifest_or_part_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ArchiveError, match="manifest.json: unreadable manifest"):
        IndexReader(tmp_path).manifest
    (tmp_path / "manifest.json").write_text('{"format": "other/2"}')
    with pytest.raises(ArchiveError, match="not a keras-panns-index/1 manifest \\(format 'other/2'\\)"):
        IndexReader(tmp_path).read_manifest()
    copy = tmp_path / "index"
    shutil.copytree(INDEX_V1, copy)
    (part,) = os.listdir(copy / "events")
    (copy / "events" / part).write_bytes(b"not parquet")
    with pytest.raises(ArchiveError, match=f"{part}: unreadable table part"):
        IndexReader(copy).read("events")
