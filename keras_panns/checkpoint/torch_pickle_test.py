import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

from keras_panns.checkpoint.torch_pickle import load_torch_file, read_state_dict
from keras_panns.errors import CheckpointError, UnsafeCheckpointError

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "torch"


def _expected():
    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8 - 1
    return {
        "conv.weight": base,
        "bn.num_batches_tracked": np.array(7, np.int64),
        "fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3).T,
        "fc.bias": np.arange(10, dtype=np.float32)[3:6],
        "half": np.array([0.5, -2.0], np.float16),
        "bf16": np.array([1.5, -3.0], np.float32),
    }


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_reads_both_torch_formats(name):
    checkpoint = load_torch_file(FIXTURES / name)
    assert checkpoint["iteration"] == 1000
    state = checkpoint["model"]
    expected = _expected()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert state[key].dtype == value.dtype, key
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_read_state_dict_takes_the_model_entry():
    state = read_state_dict(FIXTURES / "tiny_legacy.pth")
    assert "iteration" not in state and "conv.weight" in state


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_refuses_a_malicious_pickle_in_both_formats(tmp_path):
    legacy = tmp_path / "evil_legacy.pth"
    with open(legacy, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        pickle.dump({"model": _Evil()}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match="posix.system|os.system"):
        load_torch_file(legacy)

    archive = tmp_path / "evil_zip.pth"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"model": _Evil()}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match="allow-list"):
        load_torch_file(archive)


@pytest.mark.parametrize("payload", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_garbage_is_a_clear_checkpoint_error(tmp_path, payload):
    path = tmp_path / "bad.pth"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError):
        read_state_dict(path)


def test_truncated_legacy_file(tmp_path):
    data = (FIXTURES / "tiny_legacy.pth").read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(CheckpointError, match="truncated"):
        load_torch_file(path)


def test_missing_file():
    with pytest.raises(CheckpointError, match="not found"):
        load_torch_file("/nonexistent/Cnn14_mAP=0.431.pth")
