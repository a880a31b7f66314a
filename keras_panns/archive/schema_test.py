"""The declared schema: the format on disk, the derived help and docs, and a new table in one declaration."""

import dataclasses
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keras_panns.archive import schema
from keras_panns.archive.reader import IndexReader
from keras_panns.archive.store import COLUMNS, IndexStore
from keras_panns.testing import REPO

#: An index written by keras-panns before the schema was declared (tags, scores, embeddings and events;
#: 3 classes, embedding size 4): the format the declaration must keep.
INDEX_V1 = REPO / "tests" / "data" / "index_v1"


def test_the_declared_schemas_are_the_format_on_disk():
    manifest = IndexReader(INDEX_V1).manifest
    declared = schema.arrow_schemas(manifest)
    for table in ("files", "windows", "events", "errors"):
        for part in [name for name in os.listdir(INDEX_V1 / table) if name.endswith(".parquet")]:
            on_disk = pq.read_schema(INDEX_V1 / table / part).remove_metadata()
            assert declared[table].equals(on_disk), (table, declared[table], on_disk)


def test_outputs_choose_the_windows_columns():
    windows = schema.table("windows")
    assert windows.names(("tags",)) == ["path", "window", "start", "end", "top_labels", "top_scores"]
    assert windows.names(("embeddings",), wide=False) == ["path", "window", "start", "end"]
    assert windows.names(("scores", "embeddings"))[-2:] == ["scores", "embedding"]
    assert schema.arrow_schema("windows", 527, 2048, ("scores",)).field("scores").type == pa.list_(pa.float32(), 527)
    assert schema.table_names()[-1] == "files"  # committed last: a file is done once its row is in place


def test_in_flight_keys_are_the_files_metadata_and_the_job_fields():
    files = schema.table("files")
    assert set(schema.in_flight()) == {"path", "size", "mtime", "duration", "sample_rate", "channels"} | set(
        schema.JOB_FIELDS
    )
    assert all(name in files.names() for name in schema.in_flight() if name not in schema.JOB_FIELDS)


def test_help_docs_and_descriptions_come_from_the_declaration():
    text = schema.outputs_help()
    assert all(f"{name}: {meaning}" in text for name, meaning in schema.OUTPUTS.items())
    assert COLUMNS["events"]["onset"] == "float64: seconds from the file's start"
    docs = (REPO / "docs" / "archive.md").read_text()
    found = re.search(r"<!-- index-schema:begin -->\n(.*?)\n<!-- index-schema:end -->", docs, re.S)
    assert found, "docs/archive.md has no index-schema block"
    assert found.group(1) == schema.markdown(), (
        "docs/archive.md's table differs from the declaration: paste `python -m keras_panns.archive.schema`"
    )


def test_a_bad_declaration_is_refused():
    with pytest.raises(ValueError, match="type 'float16'"):
        schema.Column("x", "float16", "", "")
    with pytest.raises(ValueError, match="output 'labels'"):
        schema.Column("x", "string", "", "", output="labels")
    with pytest.raises(KeyError, match="the tables are windows, events, errors, files"):
        schema.table("nope")
    with pytest.raises(KeyError, match="has no column 'nope'"):
        schema.table("files").column("nope")


def test_a_new_table_is_one_declaration(tmp_path, monkeypatch):
    # What the operating-points issue's labels table will take: a Table here, rows from the code that
    # makes them. The writer, the reader and the search API need nothing more.
    from keras_panns.search.index import Index

    notes = schema.Table(
        "notes",
        "one row per note on a file (a table for this test)",
        (
            schema.Column("path", "string", "the file (as in files)", "the test"),
            schema.Column("note", "string", "free text", "the test"),
            schema.Column("weight", "float32", "how much it counts", "the test"),
        ),
    )
    monkeypatch.setattr(schema, "TABLES", schema.TABLES[:-1] + (notes,) + schema.TABLES[-1:])
    manifest = dict(IndexReader(INDEX_V1).manifest)
    store = IndexStore(tmp_path / "index")
    store.open(manifest)
    file_row = dict(path="n.wav", size=1, mtime=1.0, duration=1.0, sample_rate=32000, channels=1, windows=0)
    store.commit({"files": [dict(file_row, status="ok")], "notes": [{"path": "n.wav", "note": "hi", "weight": 0.5}]})
    reader = IndexReader(tmp_path / "index")
    assert reader.read("notes").to_pylist() == [{"path": "n.wav", "note": "hi", "weight": 0.5}]
    assert Index(tmp_path / "index").arrow("notes").column("note").to_pylist() == ["hi"]
    assert "| `notes` | `weight` | float32 | always |" in schema.markdown()
    # A part of the new table whose files part never arrived is removed, as any other table's.
    staged = tmp_path / "index" / "notes" / "part-orphan.parquet"
    pq.write_table(reader.read("notes"), staged)
    IndexStore(tmp_path / "index").open(manifest)
    assert not staged.exists()
    assert store.retire(["n.wav"]) == 1 and reader.read("notes").num_rows == 0
    assert dataclasses.is_dataclass(notes) and notes.names() == ["path", "note", "weight"]
