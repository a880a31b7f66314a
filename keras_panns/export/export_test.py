import json
import os

import numpy as np
import pytest

import keras_panns
from keras_panns.export import ExportError, export_model
from keras_panns.export.tflite import op_names
from keras_panns.runtimes.sessions import load_signature
from keras_panns.testing import golden


@pytest.fixture(scope="module")
def cnn6():
    model = golden.fixture_model("Cnn6")
    return model


@pytest.fixture(scope="module")
def esc10(shared_data):
    return str(shared_data / "esc10" / "audio")


@pytest.mark.parametrize("fmt,length", [("tflite", 5.0), ("tflite", None), ("onnx", 5.0), ("onnx", None)])
def test_float_exports_reproduce_keras(cnn6, tmp_path, fmt, length):
    path = tmp_path / f"cnn6.{fmt}"
    report = export_model(cnn6, path, format=fmt, length=length)
    assert max(report.max_abs_error.values()) < 1e-4
    assert report.input_shape == (None, None if length is None else 160000)
    assert report.outputs == {"clipwise_output": (None, 527), "embedding": (None, 512)}
    spec = json.loads(open(report.metadata_path).read())
    assert spec["sample_rate"] == 32000 and len(spec["labels"]) == 527 and spec["input"]["name"] == "waveform"
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, path.name + ".json"])  # no partial files
    if fmt == "tflite":
        assert not [op for op in report.ops if op.startswith("Flex") or op == "CUSTOM"]
    # An independent run of the file on real-shaped input, batch of two.
    x = np.random.RandomState(0).uniform(-0.5, 0.5, (2, 160000)).astype(np.float32)
    want = cnn6.predict_on_batch(x)["clipwise_output"]
    if fmt == "tflite":
        got = load_signature(str(path))(waveform=x)["clipwise_output"]
    else:
        import onnxruntime

        got = onnxruntime.InferenceSession(str(path)).run(["clipwise_output"], {"waveform": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_float16_keeps_the_front_end_float32_and_survives_silence(cnn6, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path = str(tmp_path / "cnn6_f16.tflite")
    report = export_model(cnn6, path, quantize="float16", length=2.0)
    float_size = export_model(cnn6, tmp_path / "f32.tflite", length=2.0).size_bytes
    assert report.size_bytes < 0.65 * float_size
    details = Interpreter(model_path=path).get_tensor_details()
    front = [d for d in details if "logmel_extractor" in d["name"]]
    assert front and not [d["name"] for d in front if d["dtype"] in (np.float16, np.int8)]
    assert any(d["dtype"] == np.float16 for d in details)  # the body is float16
    # Digital silence: amin (1e-10) would be 0 in float16, making log-mel -inf and the scores NaN.
    silence = np.zeros((1, 64000), np.float32)
    got = load_signature(path)(waveform=silence)["clipwise_output"]
    np.testing.assert_allclose(got, cnn6.predict_on_batch(silence)["clipwise_output"], atol=1e-2)


@pytest.mark.parametrize("fmt,quantize", [("tflite", "dynamic"), ("tflite", "int8"), ("onnx", "int8")])
def test_quantized_exports_report_agreement_on_real_audio(cnn6, esc10, tmp_path, fmt, quantize):
    path = tmp_path / f"q.{fmt}"
    # The golden weights are synthetic (saturated scores, near-ties), so top-5 agreement is not meaningful
    # for them, and ONNX int8 moves their scores by 0.064 on average (TFLite: 0.009), so the bounds are looser.
    # The mean over 8 clips and 527 classes is the quantization's, not one CPU's kernels: 0.0639 on an
    # AVX2-only EPYC (u8s8 without VNNI), as on the machine this bound was first measured on.
    report = export_model(
        cnn6,
        path,
        format=fmt,
        quantize=quantize,
        length=2.0,
        calibration=esc10,
        max_calibration_clips=8,
        min_top5=0.0,
        max_mean_abs=0.1,
    )
    assert report.validation_clips == 8 and 0 <= report.top5_overlap <= 1
    assert 0 < report.mean_abs_error["clipwise_output"] < 0.1
    assert report.size_bytes < 0.45 * 23.7e6
    if fmt == "tflite":
        assert "logmel_extractor" not in " ".join(_int8_tensor_names(path))


def _int8_tensor_names(path):
    from ai_edge_litert.interpreter import Interpreter

    return [d["name"] for d in Interpreter(model_path=str(path)).get_tensor_details() if d["dtype"] == np.int8]


def test_validation_failure_leaves_nothing(cnn6, tmp_path):
    with pytest.raises(ExportError, match="differs from the Keras model"):
        export_model(cnn6, tmp_path / "x.tflite", length=2.0, tolerance=0.0)
    with pytest.raises(ExportError, match="calibration audio"):
        export_model(cnn6, tmp_path / "x.tflite", quantize="int8")
    with pytest.raises(ExportError, match="float16 is offered for TFLite"):
        export_model(cnn6, tmp_path / "x.onnx", format="onnx", quantize="float16", length=2.0)
    with pytest.raises(ExportError, match="format must be"):
        export_model(cnn6, tmp_path / "x.pb", format="pb")
    with pytest.raises(ExportError, match="tf2onnx cannot convert the real FFT"):
        export_model(cnn6, tmp_path / "x.onnx", format="onnx", front_end="fft", length=2.0)
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt,length", [("tflite", None), ("onnx", 4.0)])
def test_cnn14_class_and_sed_exports(tmp_path, fmt, length):
    for model in (
        keras_panns.Cnn14(sample_rate=16000, window_size=512, hop_size=160, fmax=8000, seed=0),
        keras_panns.Cnn14_DecisionLevelMax(sample_rate=16000, window_size=512, hop_size=160, fmax=8000, seed=0),
    ):
        report = export_model(model, tmp_path / f"{model.name}.{fmt}", format=fmt, length=length)
        assert max(report.max_abs_error.values()) < 1e-4, report.max_abs_error
        if "framewise_output" in report.outputs:
            assert report.outputs["framewise_output"][-1] == 527
    assert op_names is not None
