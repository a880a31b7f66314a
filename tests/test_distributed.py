"""MultiWorkerMirroredStrategy with two local worker processes on 127.0.0.1 (CPU)."""

import os

import numpy as np
import pytest

from keras_panns.data import pack
from keras_panns.testing import REPO
from keras_panns.testing.workers import run_workers

CANARY_WORKER = str(REPO / "tests" / "mwms_canary_worker.py")  # a canary of keras_panns.training.keras_compat


@pytest.mark.slow
def test_two_workers_train_to_identical_weights(esc10_examples, tmp_path):
    examples, names = esc10_examples
    data = str(tmp_path / "data")
    pack(
        examples[:40],
        data,
        label_names=names,
        sample_rate=8000,
        clip_seconds=2.0,
        shard_size=10,
        workers=1,
        progress=False,
    )
    codes, logs = run_workers(os.path.join(os.path.dirname(__file__), "mwms_worker.py"), [data, tmp_path])
    assert codes == [0, 0], "\n".join(log[-3000:] for log in logs)
    first, second = (np.load(tmp_path / f"worker{i}.npz") for i in range(2))
    assert int(first["steps"]) == int(second["steps"]) == 4
    trained = [k for k in first.files if k.endswith("kernel")]
    assert trained and all(np.array_equal(first[k], second[k]) for k in first.files)  # BN statistics included
    assert (tmp_path / "run" / "checkpoints" / "latest.json").exists()  # written by the chief only


def _two_workers(scenario):
    _, logs = run_workers(CANARY_WORKER, [scenario], timeout=300)
    return [next((line for line in log.splitlines() if line.startswith("FIT_")), log[-2000:]) for log in logs]


@pytest.mark.slow
def test_multi_worker_fit_still_needs_the_workarounds():
    """Two local workers on 127.0.0.1: fit works with both workarounds and fails without either one."""
    assert _two_workers("both") == ["FIT_OK", "FIT_OK"]
    without_reduce = _two_workers("no_scalar_reduce")
    assert all("Invalid reduction dimension 0" in line for line in without_reduce), without_reduce
    without_build = _two_workers("no_build")
    assert all("PerReplica" in line for line in without_build), without_build
