"""The JAX backend trains on several devices: keras.distribution.DataParallel on two CPU host devices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_panns.data import pack


@pytest.mark.slow
def test_two_jax_devices_train_identical_replicas_and_resume_exactly(esc10_examples, tmp_path):
    pytest.importorskip("jax")
    examples, names = esc10_examples
    chosen = [e for e in examples if e.labels[0] < 4][:40]
    data = str(tmp_path / "data")
    pack(
        chosen,
        data,
        label_names=names[:4],
        sample_rate=8000,
        clip_seconds=2.0,
        shard_size=10,
        workers=1,
        progress=False,
    )
    env = dict(
        os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    script = os.path.join(os.path.dirname(__file__), "jax_data_parallel_worker.py")
    done = subprocess.run(
        [sys.executable, script, data, str(tmp_path)], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert len(result["devices"]) == 2 and result["steps"] == 4
    assert "tf.distribute's" in result["mirrored"] and result["auto"] == "JaxDataParallel"
    assert result["replicas_identical"], result["why"]
    assert result["resumed_from"] == 2
    straight, resumed, one = (np.load(tmp_path / f"{name}.npz") for name in ("straight", "resumed", "one_device"))
    for key in straight.files:
        # Feature mixup, SpecAugment and batch norm included: a resumed run continues the same stream.
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, atol=1e-6)
    # Two devices with the global batch train what one device with the whole batch trains, up to reduction
    # order, which Adam amplifies where a gradient is near zero (4 steps at lr 1e-3 move weights by ~4e-3;
    # measured: mean |difference| 1.3e-6, max 3.8e-4).
    differences = [np.abs(one[key] - straight[key]) for key in straight.files]
    assert np.mean([d.mean() for d in differences]) < 1e-5
    assert max(d.max() for d in differences) < 1e-3
    assert (tmp_path / "straight" / "checkpoints" / "latest.json").exists()
