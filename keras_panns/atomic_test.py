import json

import pytest

from keras_panns.atomic import atomic_write, write_text_atomic


def test_a_finished_block_replaces_the_file(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text("old")
    with atomic_write(path) as f:
        json.dump({"a": 1}, f)
        assert path.read_text() == "old"  # nothing shows under the name until the block ends
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]


def test_an_error_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("kept")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(path, newline="") as f:
        f.write("half a ta")
        raise RuntimeError("disk full")
    assert path.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_binary_and_text_helpers(tmp_path):
    with atomic_write(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    write_text_atomic(tmp_path / "t.txt", "é\n")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "é\n"
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass
