"""Cnn14 parity under the JAX and PyTorch backends (each in its own process,
since the backend is fixed when keras is imported), with both DFTs of the front end."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_panns.testing import layer_harness

SCRIPT = r"""
import numpy as np, keras
from keras_panns.testing import golden, parity_cases
from keras_panns.checkpoint import port_state_dict
from keras_panns.layers import set_dft
assert keras.backend.backend() == {backend!r}, keras.backend.backend()
spec = golden.load_spec("Cnn14")
model = parity_cases.build("Cnn14", spec)
port_state_dict(model, golden.fixture_state_dict("Cnn14"))
expected = golden.load_outputs("Cnn14")
worst = 0.0
for dft, clip, x in [(d, c, x) for d in ("conv", "fft") for c, x in golden.load_inputs(32000).items()]:
    set_dft(model, dft)
    out = model(keras.ops.convert_to_tensor(x[None]), training=False)
    clipwise = keras.ops.convert_to_numpy(out["clipwise_output"])[0]
    emb = keras.ops.convert_to_numpy(out["embedding"])[0]
    ref_emb = expected[clip + "/embedding"]
    err = np.abs(clipwise - expected[clip + "/clipwise_output"]).max()
    rel = np.abs(emb - ref_emb).max() / np.abs(ref_emb).max()
    assert err <= 1e-4 and rel <= 1e-4, (dft, clip, err, rel)
    worst = max(worst, err)
print("PARITY_OK", worst)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_cnn14_parity_on_backend(backend):
    pytest.importorskip(backend)
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(backend=backend)], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PARITY_OK" in result.stdout


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_layer_passes_and_agrees_on_another_backend(backend, tmp_path):
    pytest.importorskip(backend)
    expected = {name: layer_harness.check_config_round_trip(case) for name, case in layer_harness.CASES.items()}
    out = tmp_path / f"{backend}.npz"
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="")
    run = subprocess.run(
        [sys.executable, "-m", "keras_panns.testing.layer_harness", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"{backend}: {len(expected)} layers passed" in run.stdout
    with np.load(out) as got:
        assert set(got.files) == set(expected)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, atol=1e-4, rtol=1e-4, err_msg=f"{name} on {backend}")
