"""TFLite Model Metadata, checked by MediaPipe Tasks' own AudioClassifier against ai_edge_litert."""

import os

import numpy as np
import pytest

import keras_panns
from keras_panns.export import ExportError, export_model
from keras_panns.export.metadata import label_file, minimum_parser_version, read_metadata
from keras_panns.runtimes.sessions import load_signature
from keras_panns.testing import SHARED, golden

pytest.importorskip("mediapipe")
EXAMPLES = SHARED / "data" / "examples"


@pytest.fixture(scope="module")
def cnn6():
    # The golden weights saturate most scores at 1.0, where top-5 is a tie; a smaller head spreads them
    # (0.55 to 0.67 on the recordings), so the ranking comparison below means something.
    return golden.spread_scores(golden.fixture_model("Cnn6"))


@pytest.fixture(scope="module")
def mediapipe_file(cnn6, tmp_path_factory):
    path = tmp_path_factory.mktemp("mediapipe") / "cnn6_mediapipe.tflite"
    report = export_model(cnn6, path, length=10.0, mediapipe=True)
    assert report.outputs == {"clipwise_output": (1, 527)} and report.input_shape == (1, 320000)
    assert report.tflite_metadata
    return str(path)


def test_metadata_describes_audio_input_labels_and_provenance(mediapipe_file):
    info = read_metadata(mediapipe_file)
    subgraph = info["subgraph_metadata"][0]
    audio = subgraph["input_tensor_metadata"][0]["content"]["content_properties"]
    assert audio == {"sample_rate": 32000, "channels": 1}
    output = subgraph["output_tensor_metadata"][0]
    assert output["name"] == "clipwise_output"
    assert output["associated_files"][0]["name"] == "labels.txt"
    assert output["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
    assert label_file(mediapipe_file) == list(keras_panns.labels.audioset_labels())
    assert "Cnn6" in info["description"] and "32000 Hz" in info["description"] and "10 s" in info["description"]
    assert info["min_parser_version"] == "1.3.0"  # AudioProperties were added in schema 1.3.0


def test_mediapipe_audio_classifier_equals_litert(mediapipe_file, cnn6):
    from mediapipe.tasks.python.audio import audio_classifier
    from mediapipe.tasks.python.components.containers import audio_data
    from mediapipe.tasks.python.core import base_options

    paths = [EXAMPLES / "f62-S-v2swA_200000_210000.wav", EXAMPLES / "R9_ZSCveAHg_7s.wav"]
    if not all(path.is_file() for path in paths):
        pytest.skip(f"recordings not found in {EXAMPLES}")
    window = 10 * cnn6.sample_rate
    ten, seven = (keras_panns.load_audio(str(path), cnn6.sample_rate) for path in paths)
    # 17 s at the model's rate: MediaPipe cuts two windows, the second zero-padded from 7 s.
    waveform = np.concatenate([ten[:window], seven]).astype(np.float32)
    options = audio_classifier.AudioClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=mediapipe_file), max_results=5
    )
    with audio_classifier.AudioClassifier.create_from_options(options) as classifier:
        results = classifier.classify(audio_data.AudioData.create_from_array(waveform, cnn6.sample_rate))
    assert [r.timestamp_ms for r in results] == [0, 10000]

    signature = load_signature(mediapipe_file)
    labels = keras_panns.labels.audioset_labels()
    for result, start in zip(results, (0, window)):
        (head,) = result.classifications
        assert head.head_name == "clipwise_output"
        got = [(c.index, c.category_name, c.score) for c in head.categories]
        segment = np.pad(waveform[start : start + window], (0, max(0, start + window - len(waveform))))
        scores = signature(waveform=segment[None])["clipwise_output"][0]
        order = np.argsort(-scores, kind="stable")[:5]
        np.testing.assert_allclose([score for _, _, score in got], scores[order], atol=1e-4)
        for (index, name, score), want in zip(got, order):
            assert abs(score - scores[index]) < 1e-4 and name == labels[index]
            if index != want:  # only a tie within the tolerance may reorder two classes
                assert abs(scores[index] - scores[want]) < 1e-4


def test_regular_tflite_exports_carry_metadata_for_every_output(cnn6, tmp_path):
    report = export_model(cnn6, tmp_path / "cnn6.tflite", length=2.0)
    outputs = read_metadata(report.path)["subgraph_metadata"][0]["output_tensor_metadata"]
    assert sorted(o["name"] for o in outputs) == ["clipwise_output", "embedding"]
    plain = export_model(cnn6, tmp_path / "plain.tflite", length=2.0, metadata=False)
    assert read_metadata(plain.path) is None and plain.size_bytes < report.size_bytes


def test_options_the_file_cannot_serve_are_refused_and_leave_nothing(cnn6, tmp_path):
    with pytest.raises(ExportError, match="needs a fixed length"):
        export_model(cnn6, tmp_path / "x.tflite", length=None, mediapipe=True)
    with pytest.raises(ExportError, match="MediaPipe Tasks load TFLite"):
        export_model(cnn6, tmp_path / "x.onnx", format="onnx", mediapipe=True)
    with pytest.raises(ExportError, match="clipwise_output only"):
        export_model(cnn6, tmp_path / "x.tflite", mediapipe=True, outputs=["embedding"])
    with pytest.raises(ExportError, match="needs the clipwise_output output"):
        export_model(cnn6, tmp_path / "x.tflite", length=2.0, outputs=["embedding"])
    with pytest.raises(ExportError, match="not outputs of"):
        export_model(cnn6, tmp_path / "x.tflite", outputs=["scores"])
    assert os.listdir(tmp_path) == []


def test_minimum_parser_version_follows_the_schema_history():
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    def version(model):
        builder = flatbuffers.Builder(0)
        builder.Finish(model.Pack(builder), b"M001")
        return minimum_parser_version(builder.Output())

    model = fb.ModelMetadataT()
    subgraph = fb.SubGraphMetadataT()
    model.subgraphMetadata = [subgraph]
    assert version(model) == "1.0.0"
    subgraph.outputTensorGroups = [fb.TensorGroupT()]
    assert version(model) == "1.2.0"
    tensor = fb.TensorMetadataT()
    tensor.content = fb.ContentT()
    tensor.content.contentPropertiesType = fb.ContentProperties.AudioProperties
    tensor.content.contentProperties = fb.AudioPropertiesT()
    subgraph.inputTensorMetadata = [tensor]
    assert version(model) == "1.3.0"
    subgraph.customMetadata = [fb.CustomMetadataT()]
    assert version(model) == "1.5.0"


def test_the_documented_mediapipe_snippet_runs(mediapipe_file, capsys):
    import pathlib
    import re

    page = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    after = page.split("<!-- mediapipe-snippet", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", after, re.S).group(1)
    recording = EXAMPLES / "R9_ZSCveAHg_7s.wav"
    if not recording.is_file():
        pytest.skip(f"{recording} not found")
    snippet = snippet.replace('"cnn14_mediapipe.tflite"', repr(mediapipe_file)).replace(
        '"speech.wav"', repr(str(recording))
    )
    exec(compile(snippet, "docs/export.md", "exec"), {})
    (line,) = capsys.readouterr().out.strip().splitlines()  # 7 s: one zero-padded 10-s window
    assert line.startswith("0 [(") and line.count("', ") == 5


def test_mediapipe_stream_mode_classifies_each_window_as_litert(mediapipe_file, cnn6):
    import time

    from mediapipe.tasks.python.audio import audio_classifier
    from mediapipe.tasks.python.audio.core import audio_task_running_mode
    from mediapipe.tasks.python.components.containers import audio_data
    from mediapipe.tasks.python.core import base_options

    paths = [EXAMPLES / "f62-S-v2swA_200000_210000.wav", EXAMPLES / "R9_ZSCveAHg_7s.wav"]
    if not all(path.is_file() for path in paths):
        pytest.skip(f"recordings not found in {EXAMPLES}")
    rate, window = cnn6.sample_rate, 10 * cnn6.sample_rate
    waveform = np.concatenate([keras_panns.load_audio(str(p), rate) for p in paths] * 2).astype(np.float32)
    results = []
    options = audio_classifier.AudioClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=mediapipe_file),
        max_results=5,
        running_mode=audio_task_running_mode.AudioTaskRunningMode.AUDIO_STREAM,
        result_callback=lambda result, timestamp_ms: results.append((timestamp_ms, result)),
    )
    with audio_classifier.AudioClassifier.create_from_options(options) as classifier:
        chunk = rate // 2  # 0.5-s chunks, as a microphone delivers them
        for start in range(0, len(waveform), chunk):
            block = audio_data.AudioData.create_from_array(waveform[start : start + chunk], rate)
            classifier.classify_async(block, start * 1000 // rate)
        deadline = time.time() + 30
        while len(results) < 3 and time.time() < deadline:
            time.sleep(0.1)
    signature = load_signature(mediapipe_file)
    assert [timestamp for timestamp, _ in results[:3]] == [0, 10000, 20000]
    for (timestamp, result), start in zip(results[:3], (0, window, 2 * window)):
        scores = signature(waveform=waveform[None, start : start + window])["clipwise_output"][0]
        got = {c.index: c.score for c in result.classifications[0].categories}
        assert set(got) == set(np.argsort(-scores)[:5])
        np.testing.assert_allclose(list(got.values()), scores[list(got)], atol=1e-4)


def test_operating_points_in_the_metadata_make_mediapipe_return_our_calibrated_scores(cnn6, tmp_path):
    from mediapipe.tasks.python.audio import audio_classifier
    from mediapipe.tasks.python.components.containers import audio_data
    from mediapipe.tasks.python.core import base_options

    from keras_panns.decisions import OperatingPoints
    from keras_panns.runtimes.fingerprint import model_fingerprint

    recording = EXAMPLES / "R9_ZSCveAHg_7s.wav"
    if not recording.is_file():
        pytest.skip(f"{recording} not found")
    window = 10 * cnn6.sample_rate
    waveform = np.pad(keras_panns.load_audio(str(recording), cnn6.sample_rate), (0, window))[:window]
    scores = np.asarray(cnn6.predict_on_batch(waveform[None])["clipwise_output"][0])
    labels = list(cnn6.labels)
    order = np.argsort(-scores)
    # Three classes with points (two calibrated, one cut just above its score), the rest at a default set in
    # the widest gap between ranks 5 and 20, so no score sits near it on any CPU's kernels.
    gaps = scores[order[5:20]] - scores[order[6:21]]
    widest = 5 + int(np.argmax(gaps))
    points = OperatingPoints(
        model=model_fingerprint(cnn6),
        target="f1",
        classes={
            labels[order[0]]: {"threshold": float(scores[order[0]]) - 0.01, "calibration": [3.0, -1.0]},
            labels[order[1]]: {"threshold": float(scores[order[1]]) - 0.01, "calibration": [0.5, 0.2]},
            labels[order[2]]: {"threshold": float(scores[order[2]]) + 0.001, "calibration": [2.0, 0.0]},
        },
        default_threshold=float(scores[order[widest]] + scores[order[widest + 1]]) / 2,
    )
    path = tmp_path / "calibrated.tflite"
    export_model(cnn6, path, length=10.0, mediapipe=True, operating_points=points)
    calibration = read_metadata(path)["subgraph_metadata"][0]["output_tensor_metadata"][0]["process_units"][0]
    assert calibration["options"]["score_transformation"] == "INVERSE_LOGISTIC"
    options = audio_classifier.AudioClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=str(path)), max_results=20
    )
    with audio_classifier.AudioClassifier.create_from_options(options) as classifier:
        (result,) = classifier.classify(audio_data.AudioData.create_from_array(waveform, cnn6.sample_rate))
    got = {c.index: c.score for c in result.classifications[0].categories if c.score > 0}
    raw = np.asarray(load_signature(str(path))(waveform=waveform[None])["clipwise_output"][0])
    want = points.calibrate(raw, labels) * (raw > points.thresholds(labels))
    assert set(got) == set(np.flatnonzero(want > 0)) and order[2] not in got
    np.testing.assert_allclose([got[i] for i in sorted(got)], want[sorted(got)], atol=1e-4)
    other = OperatingPoints(**{**points.__dict__, "model": dict(points.model, weights_sha256="1" * 64)})
    with pytest.raises(ExportError, match="weights_sha256 111111111111... there"):
        export_model(cnn6, tmp_path / "other.tflite", length=10.0, operating_points=other)
    with pytest.raises(ExportError, match="operating points travel in TFLite Model Metadata"):
        export_model(cnn6, tmp_path / "x.onnx", format="onnx", length=10.0, operating_points=points)


def test_mediapipe_still_writes_a_trailing_calibration_line(tmp_path):
    # Canary of AudioClassifierWriter._export_calibration_file: once MediaPipe's writer stops ending the
    # calibration file with a newline (that its calculator reads as one more class), drop the override.
    from keras_panns.export.metadata import _metadata_writer

    _, _, metadata_writer = _metadata_writer()
    writer = metadata_writer.MetadataWriter.create(bytearray(b"\0" * 16))
    try:
        rows = [metadata_writer.CalibrationParameter(1.0, 2.0, 0.0, 0.5)] * 2
        path = writer._export_calibration_file("calibration.txt", rows)
        with open(path, encoding="utf-8") as f:
            assert f.read() == "1.0,2.0,0.0,0.5\n1.0,2.0,0.0,0.5\n"
    finally:
        writer._temp_folder.cleanup()
