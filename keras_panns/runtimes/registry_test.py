"""Every registered runtime, the same checks: a new runtime is its runner module and one `register` line.

Real onnxruntime, LiteRT and OpenVINO on a small model (MobileNetV1, golden fixture weights, scores spread).
"""

import os

import numpy as np
import pytest

from keras_panns.errors import RuntimeUnavailableError
from keras_panns.export.core import FLOAT_TOLERANCE  # what a float32 export must keep
from keras_panns.runtimes import PRECISIONS, REGISTRY, RUNTIMES, Runner, get_runner, plan_runtime, registry
from keras_panns.testing import golden


@pytest.fixture(scope="module")
def model():
    return golden.spread_scores(golden.fixture_model("MobileNetV1"))


@pytest.fixture(scope="module")
def batches():
    rng = np.random.RandomState(0)
    return {n: rng.uniform(-0.5, 0.5, (n, 64000)).astype(np.float32) for n in (1, 3)}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_runtime_runs_the_model_as_keras_does(name, model, batches, tmp_path):
    runtime = REGISTRY[name]
    if runtime.missing():
        pytest.skip(runtime.missing())
    if name == "openvino" and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("OpenVINO converts the TensorFlow forward")
    runner = get_runner(model, name, "float32", cache_dir=tmp_path)
    assert isinstance(runner, Runner) and (runner.runtime, runner.precision) == (name, "float32")
    assert runner.describe().startswith(f"{name} float32")
    assert runner.choice.runtime == name and plan_runtime(model, name, "float32", cache_dir=tmp_path) == runner.choice
    for size, batch in batches.items():
        want = {key: np.asarray(value) for key, value in model.predict_on_batch(batch).items()}
        got = runner(batch)
        assert sorted(got) == sorted(want), (name, sorted(got))
        for key, value in want.items():
            assert got[key].dtype == np.float32 and got[key].shape == value.shape, (name, key, size)
            scale = max(1.0, float(np.abs(value).max()))  # embeddings relative to their scale, as export does
            assert np.abs(got[key] - value).max() <= FLOAT_TOLERANCE * scale, (name, key, size)


def test_the_registry_is_what_the_options_and_messages_come_from():
    assert RUNTIMES == ("auto", *REGISTRY) and set(PRECISIONS) == {"auto", "float32", "bfloat16", "int8"}
    assert all(runtime.precisions[0] == "float32" for runtime in REGISTRY.values())
    assert [r.name for r in REGISTRY.values() if r.in_auto] == ["keras", "openvino"]
    assert REGISTRY["keras"].precision_error("int8") == (
        "runtime 'keras' runs float32; int8 is offered by --runtime openvino or onnxruntime or litert"
    )
    with pytest.raises(RuntimeUnavailableError, match="unknown runtime 'tensorrt'; choose from auto, keras"):
        registry.get("tensorrt")


def test_a_new_runtime_is_one_registration(model, batches, monkeypatch):
    # A runtime of this test: Keras float32 under another name, registered the way a real one is.
    monkeypatch.setitem(
        REGISTRY,
        "echo",
        registry.Runtime("echo", ("float32",), "numpy", "cpu", "keras_panns.runtimes.keras_runner:build"),
    )
    assert "echo" in registry.names()
    runner = get_runner(model, "echo", "float32")
    np.testing.assert_array_equal(
        runner(batches[1])["clipwise_output"], model.predict_on_batch(batches[1])["clipwise_output"]
    )
    absent = registry.Runtime("absent", ("float32",), "no_such_package_xyz", "absent", "no.such:build")
    assert (
        absent.missing() == "runtime 'absent' needs the no_such_package_xyz package: pip install 'keras-panns[absent]'"
    )
    monkeypatch.setitem(REGISTRY, "absent", absent)
    with pytest.raises(RuntimeUnavailableError, match=r"keras-panns\[absent\]"):
        get_runner(model, "absent", "float32")
