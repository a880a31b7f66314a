"""Resuming without Ray or a model: a finished index is told from its manifest and files table alone."""

import json
import os
import shutil

import pyarrow as pa

from keras_panns.archive.reader import IndexReader
from keras_panns.archive.resume import PriorIndex, not_done, source_stat
from keras_panns.archive.spec import IndexSpec
from keras_panns.archive.store import IndexStore
from keras_panns.testing import REPO

INDEX_V1 = REPO / "tests" / "data" / "index_v1"
SPEC = IndexSpec(outputs=("tags", "scores", "embeddings", "events"), window_seconds=1.0, hop_seconds=0.5, top_k=2)


def _files(*rows):
    return pa.table(
        {
            "path": pa.array([r[0] for r in rows], pa.string()),
            "size": pa.array([r[1] for r in rows], pa.int64()),
            "mtime": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def _index_made_from(tmp_path, checkpoint):
    index = tmp_path / "index"
    shutil.copytree(INDEX_V1, index)
    manifest = dict(IndexReader(index).manifest, model_source_stat=source_stat(checkpoint))
    (index / "manifest.json").write_text(json.dumps(manifest))  # as the writer records it for a local model
    return index


def test_a_finished_index_is_told_without_the_model(tmp_path):
    checkpoint = tmp_path / "Cnn6.pth"
    checkpoint.write_bytes(b"weights")
    index = _index_made_from(tmp_path, checkpoint)
    listed = _files(("a.wav", 100, 1.5), ("bad.wav", 0, 2.0))
    stat = source_stat(checkpoint)
    assert PriorIndex(index).finished(listed, SPEC, stat)
    assert PriorIndex(index).finished(listed, IndexSpec(**{**SPEC.__dict__, "runtime": "keras"}), stat)
    # Anything else needs the model: another spec, runtime, a new or changed file, a touched checkpoint.
    assert not PriorIndex(index).finished(listed, IndexSpec(**{**SPEC.__dict__, "hop_seconds": 0.25}), stat)
    assert not PriorIndex(index).finished(listed, IndexSpec(**{**SPEC.__dict__, "runtime": "openvino"}), stat)
    assert not PriorIndex(index).finished(_files(("a.wav", 100, 1.5), ("c.wav", 1, 1.0)), SPEC, stat)
    assert not PriorIndex(index).finished(_files(("a.wav", 101, 1.5)), SPEC, stat)
    os.utime(checkpoint, ns=(0, 10**9))
    assert not PriorIndex(index).finished(listed, SPEC, source_stat(checkpoint))
    assert not PriorIndex(tmp_path / "none").finished(listed, SPEC, stat)


def test_an_auto_run_resumes_on_the_path_the_index_was_made_on():
    prior = PriorIndex(INDEX_V1)
    assert prior.runtime_request(IndexSpec()) == ("keras", "float32")
    assert prior.runtime_request(IndexSpec(runtime="openvino")) == ("openvino", "auto")
    assert PriorIndex("/nonexistent/index").runtime_request(IndexSpec()) == ("auto", "auto")


def test_todo_skips_done_files_and_retires_changed_ones(tmp_path):
    index = tmp_path / "index"
    shutil.copytree(INDEX_V1, index)
    prior = PriorIndex(index)
    store = IndexStore(index)
    store.open(prior.manifest)
    todo, changed = prior.todo(_files(("a.wav", 100, 9.0), ("bad.wav", 0, 2.0), ("new.wav", 5, 1.0)), store)
    assert sorted(todo.column("path").to_pylist()) == ["a.wav", "new.wav"] and changed == 1
    assert IndexReader(index).read("windows").num_rows == 0  # a.wav's old windows are retired
    assert IndexReader(index).read("files").column("path").to_pylist() == ["bad.wav"]


def test_a_preset_folder_is_fingerprinted_file_by_file(tmp_path):
    preset = tmp_path / "preset"
    (preset / "assets").mkdir(parents=True)
    (preset / "config.json").write_text("{}")
    (preset / "assets" / "w.bin").write_bytes(b"12")
    assert [name for name, _, _ in source_stat(preset)] == ["assets/w.bin", "config.json"]
    assert source_stat("cnn14") is None and source_stat(object()) is None
    assert not_done(_files(("x", 1, 1.0)), _files(("x", 1, 1.0))).num_rows == 0
