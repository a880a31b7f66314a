"""Listing an archive's local sources without Ray: folders, globs, lists, each file once, bad sources named.

The `s3://` listing is tested against moto's S3 server in tests/test_archive_cluster.py.
"""

import os

import pytest

from keras_panns.archive import schema
from keras_panns.archive.sources import list_sources, local_copy
from keras_panns.errors import ArchiveError


@pytest.fixture
def archive(tmp_path):
    for name in ("a.wav", "b.FLAC", "notes.txt.bak", "sub/c.mp3", "sub/deeper/d.ogg", "sub/readme.md"):
        path = tmp_path / "archive" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (len(name) + 1))
    return tmp_path / "archive"


def _paths(table, root):
    return [os.path.relpath(p, root) for p in table.column("path").to_pylist()]


def test_a_folder_lists_its_audio_files_by_extension(archive):
    files = list_sources([archive])
    assert _paths(files, archive) == ["a.wav", "b.FLAC", "sub/c.mp3", "sub/deeper/d.ogg"]
    assert files.schema.names == ["path", "size", "mtime"]
    for name in ("path", "size", "mtime"):  # the files table's own types: the resume joins on them
        assert files.schema.field(name).type == schema.table("files").column(name).arrow_type(0, 0)
    assert files.column("size").to_pylist()[0] == len("a.wav") + 1
    assert _paths(list_sources([archive], recursive=False), archive) == ["a.wav", "b.FLAC"]


def test_globs_lists_and_repeats_name_each_file_once(archive, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# the field recordings\n{archive / 'a.wav'}\n\n{archive / 'sub'}\n")
    table = tmp_path / "list.csv"
    table.write_text(f"path,site\n{archive / 'b.FLAC'},north\n{archive / 'a.wav'},south\n")
    files = list_sources([str(archive / "*.wav"), listing, table, archive])
    assert _paths(files, archive) == ["a.wav", "sub/c.mp3", "sub/deeper/d.ogg", "b.FLAC"]


def test_a_missing_file_named_directly_is_kept_for_its_error_row(archive):
    files = list_sources([archive / "gone.wav"])
    assert files.column("size").to_pylist() == [-1]  # reported as that file's error when the job reads it


def test_bad_sources_are_named(archive, tmp_path):
    with pytest.raises(ArchiveError, match="empty: matches no audio file"):
        (tmp_path / "empty").mkdir()
        list_sources([tmp_path / "empty"])
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("file,site\na.wav,north\n")
    with pytest.raises(ArchiveError, match="bad.csv: a CSV list needs a 'path' column \\(it has file, site\\)"):
        list_sources([bad_csv])
    with pytest.raises(ArchiveError, match="nothing-\\*.wav: matches no audio file"):
        list_sources([str(archive / "nothing-*.wav")])


def test_a_local_file_is_its_own_copy(archive):
    with local_copy(str(archive / "a.wav")) as path:
        assert path == str(archive / "a.wav")
