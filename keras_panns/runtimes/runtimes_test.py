"""The runtimes against Keras float32 and the official outputs: real OpenVINO, onnxruntime and XLA, no mocks."""

import json
import os
import sys

import numpy as np
import pytest

from keras_panns.checkpoint import port_state_dict
from keras_panns.errors import RuntimeUnavailableError
from keras_panns.runtimes import MAX_ABS_DELTA, cpu, get_runner, keras_runner
from keras_panns.runtimes.fingerprint import cache_key
from keras_panns.runtimes.select import choose
from keras_panns.testing import golden, parity_cases

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="OpenVINO converts the TensorFlow forward"
)
openvino = pytest.importorskip("openvino")


@pytest.fixture()
def cnn6():
    return golden.spread_scores(golden.fixture_model("Cnn6"))


@pytest.fixture(scope="module")
def recordings(shared_data):
    from keras_panns.audio import load_audio

    folder = shared_data / "examples"
    return [load_audio(path, 32000) for path in sorted(folder.glob("*.wav"))]


@pytest.fixture(scope="module")
def esc10_files(shared_data):
    folder = shared_data / "esc10" / "audio"
    return [str(p) for p in sorted(folder.glob("*.wav"))[:8]]


# Cnn6: the XLA-compiled path; MobileNetV1: depthwise convolutions (Keras leaves them uncompiled, so only
# OpenVINO's conversion is new there).
@pytest.mark.parametrize("name, runtime", [("Cnn6", "keras"), ("Cnn6", "openvino"), ("MobileNetV1", "openvino")])
def test_float32_runtimes_reproduce_the_official_outputs(name, runtime, tmp_path):
    spec = golden.load_spec(name)
    model = parity_cases.build(name, spec)
    port_state_dict(model, golden.fixture_state_dict(name))
    run = choose(model, runtime, "float32", cache_dir=tmp_path)
    expected = golden.load_outputs(name)
    for clip, waveform in golden.load_inputs(spec["config"]["sample_rate"]).items():
        if "error" in spec["clips"][clip]:
            continue
        out = run(waveform[None])
        np.testing.assert_allclose(
            out["clipwise_output"][0],
            expected[f"{clip}/clipwise_output"],
            rtol=0,
            atol=1e-4,
            err_msg=f"{name} {runtime} {clip}",
        )
        ref = expected[f"{clip}/embedding"]
        assert np.max(np.abs(out["embedding"][0] - ref)) <= 1e-4 * np.max(np.abs(ref)), (name, runtime, clip)


def test_keras_runner_compiles_a_few_shapes_then_runs_the_rest_uncompiled(cnn6, monkeypatch, recordings):
    monkeypatch.setattr(keras_runner, "MAX_COMPILED_SHAPES", 1)
    run = keras_runner.KerasRunner(cnn6)
    for waveform in recordings + recordings:  # a shape is compiled when it comes again, one shape at most here
        np.testing.assert_allclose(
            run(waveform[None])["clipwise_output"], cnn6.predict_on_batch(waveform[None])["clipwise_output"], atol=1e-5
        )
    assert list(run._compiled) == [(1, len(recordings[0]))]
    # Weights stay variables: new weights are used at once, with nothing to rebuild.
    head = cnn6.get_layer("fc_audioset")
    head.set_weights([w * 2 for w in head.get_weights()])
    np.testing.assert_allclose(
        run(recordings[0][None])["clipwise_output"],
        cnn6.predict_on_batch(recordings[0][None])["clipwise_output"],
        atol=1e-5,
    )


def test_openvino_float32_agrees_on_real_audio_and_reuses_its_cached_file(cnn6, recordings, tmp_path):
    run = choose(cnn6, "openvino", "float32", cache_dir=tmp_path)
    for waveform in recordings:
        np.testing.assert_allclose(
            run(waveform[None])["clipwise_output"], cnn6.predict_on_batch(waveform[None])["clipwise_output"], atol=1e-4
        )
    assert run.path.startswith(str(tmp_path)) and os.path.exists(run.path)
    modified = os.path.getmtime(run.path)
    again = choose(cnn6, "openvino", "float32", cache_dir=tmp_path)
    assert again.path == run.path and os.path.getmtime(again.path) == modified


def test_changed_weights_rebuild_the_compiled_model(cnn6, recordings, tmp_path):
    first = get_runner(cnn6, "openvino", "float32", cache_dir=tmp_path)
    assert get_runner(cnn6, "openvino", "float32", cache_dir=tmp_path) is first
    key = cache_key(cnn6)
    head = cnn6.get_layer("fc_audioset")
    head.set_weights([w * 3 for w in head.get_weights()])
    second = get_runner(cnn6, "openvino", "float32", cache_dir=tmp_path)
    assert second is not first and cache_key(cnn6) != key and second.path != first.path
    np.testing.assert_allclose(
        second(recordings[0][None])["clipwise_output"],
        cnn6.predict_on_batch(recordings[0][None])["clipwise_output"],
        atol=1e-4,
    )


def test_auto_picks_the_fastest_agreeing_path_and_caches_the_decision(cnn6, tmp_path, esc10_files, monkeypatch):
    run = choose(cnn6, "auto", "auto", cache_dir=tmp_path, calibration=esc10_files)
    choice = run.choice
    measured = {(c["runtime"], c["precision"]): c for c in choice.candidates}
    assert ("keras", "float32") in measured and measured[("keras", "float32")]["agrees"]
    picked = measured[(choice.runtime, choice.precision)]
    assert picked["agrees"] and picked["max_abs_delta"] <= MAX_ABS_DELTA and picked["top5_equal"]
    assert all(picked["clips_per_s"] >= c["clips_per_s"] for c in measured.values() if c.get("agrees"))
    assert ("openvino", "int8") in measured  # calibration audio makes int8 a candidate
    if cpu.bfloat16_unit() is None:
        assert "amx_bf16" in measured[("openvino", "bfloat16")]["error"]
    decisions = list((tmp_path / "runtimes").glob("*.json"))
    assert len(decisions) == 1 and json.loads(decisions[0].read_text())["runtime"] == choice.runtime

    from keras_panns.runtimes import select

    monkeypatch.setattr(select, "_measure", lambda *a, **k: pytest.fail("the cached decision was not reused"))
    assert choose(cnn6, "auto", "auto", cache_dir=tmp_path, calibration=esc10_files).choice == choice
    # plan_runtime: the same Choice, and no runner built to know it (the archive driver's case).
    monkeypatch.setattr(select, "build_runner", lambda *a, **k: pytest.fail("plan_runtime built a runner"))
    assert select.plan_runtime(cnn6, "auto", "auto", cache_dir=tmp_path, calibration=esc10_files) == choice
    assert select.plan_runtime(cnn6, "keras", "auto").reason == select.KERAS_ASKED


def test_int8_is_calibrated_on_audio_and_its_agreement_is_measured(cnn6, tmp_path, esc10_files, recordings):
    run = choose(cnn6, "openvino", "int8", cache_dir=tmp_path, calibration=esc10_files)
    assert run.precision == "int8" and "int8-" in os.path.basename(run.path)
    ops = {op.get_type_name() for op in openvino.Core().read_model(run.path).get_ordered_ops()}
    assert "FakeQuantize" in ops or "FakeConvert" in ops
    got = run(recordings[0][None])["clipwise_output"]
    assert got.shape == (1, 527) and np.all(np.isfinite(got))


def test_paths_that_cannot_run_say_why(cnn6, tmp_path, monkeypatch):
    with pytest.raises(RuntimeUnavailableError, match="calibration"):
        choose(cnn6, "openvino", "int8", cache_dir=tmp_path)
    with pytest.raises(RuntimeUnavailableError, match="runs float32"):
        choose(cnn6, "keras", "bfloat16", cache_dir=tmp_path)
    with pytest.raises(RuntimeUnavailableError, match="bfloat16 is offered by --runtime openvino"):
        choose(cnn6, "onnxruntime", "bfloat16", cache_dir=tmp_path)
    with pytest.raises(RuntimeUnavailableError, match="unknown runtime"):
        choose(cnn6, "tensorrt", "auto", cache_dir=tmp_path)
    if cpu.bfloat16_unit() is None:
        with pytest.raises(RuntimeUnavailableError, match="amx_bf16 or avx512_bf16"):
            choose(cnn6, "openvino", "bfloat16", cache_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the package were not installed
    with pytest.raises(RuntimeUnavailableError, match=r"keras-panns\[openvino\]"):
        choose(cnn6, "openvino", "float32", cache_dir=tmp_path / "other")


@pytest.mark.skipif(cpu.bfloat16_unit() is None, reason="this CPU has no amx_bf16 or avx512_bf16")
def test_bfloat16_agrees_within_the_bounds(cnn6, recordings, tmp_path):
    run = choose(cnn6, "openvino", "bfloat16", cache_dir=tmp_path)
    for waveform in recordings:
        got, ref = (
            run(waveform[None])["clipwise_output"][0],
            cnn6.predict_on_batch(waveform[None])["clipwise_output"][0],
        )
        worst = float(np.max(np.abs(got - ref)))
        assert worst <= MAX_ABS_DELTA
        # The golden fixture weights give near-ties inside the top 5, which bf16 may swap: every class bf16
        # ranks in its top 5 must be in float32's top 5 up to the scores' own deviation.
        assert np.min(ref[np.argsort(-got)[:5]]) >= np.sort(ref)[-5] - 2 * worst
    # The bfloat16 graph really computes in bfloat16: it differs from float32 (a float32 run would not).
    assert worst > 1e-6


def test_onnxruntime_runs_the_validated_export(cnn6, recordings, tmp_path):
    run = choose(cnn6, "onnxruntime", "float32", cache_dir=tmp_path)
    assert run.path.endswith(".onnx")
    np.testing.assert_allclose(
        run(recordings[0][None])["clipwise_output"],
        cnn6.predict_on_batch(recordings[0][None])["clipwise_output"],
        atol=1e-4,
    )


def test_a_blob_cache_that_cannot_be_locked_compiles_without_it(cnn6, recordings, tmp_path):
    (tmp_path / "openvino").mkdir()
    (tmp_path / "openvino" / "compiled").write_text("a file where the blob cache's folder should be")
    run = get_runner(cnn6, "openvino", "float32", cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="compiling without OpenVINO's blob cache"):
        got = run(recordings[0][None])["clipwise_output"]
    np.testing.assert_allclose(got, cnn6.predict_on_batch(recordings[0][None])["clipwise_output"], atol=1e-4)
    assert (tmp_path / "openvino" / "compiled").is_file()
