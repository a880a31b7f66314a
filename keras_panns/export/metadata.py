"""TFLite Model Metadata, written with MediaPipe's metadata writer, so MediaPipe Tasks can load the file.

MediaPipe's `AudioClassifier` (Android, iOS, web, Python) only loads `.tflite`
files whose metadata names the input's sample rate and channel count and gives
the classification output its label file. `write_metadata` adds exactly that,
plus the model's name, version, licence and the provenance of its weights, to
a converted file, through `mediapipe.tasks.python.metadata.metadata_writers`
and the metadata schema MediaPipe ships (no hand-written flatbuffers).
"""

import importlib
import sys
import types

from keras_panns.errors import ExportError
from keras_panns.version import __version__

CLASSIFICATION_OUTPUT = "clipwise_output"
LABEL_FILE = "labels.txt"
_VERSION_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
_DESCRIPTIONS = {
    "clipwise_output": "Independent (sigmoid) probabilities of the classes for the whole input window.",
    "embedding": "The clip embedding (the tagging head's fc1 activation), for transfer learning and search.",
    "framewise_output": "Per-frame class probabilities (sound event detection), 100 frames per second at 32 kHz.",
}


def minimum_parser_version(metadata_buffer):
    """The oldest metadata parser that understands every field `metadata_buffer` uses.

    The metadata schema's own history (`metadata_schema.fbs`, "History"):
    each field or type records the schema version that added it, and the
    minimum parser version is the largest of those in use. MediaPipe wheels
    from 0.10.30 on ship the metadata writer without the compiled module that
    computes this (`_pywrap_metadata_version`), so it is computed here from
    the same table.

    Args:
        metadata_buffer: bytes of a `ModelMetadata` flatbuffer.

    Returns:
        str, e.g. `"1.3.0"` for a model with an audio input.
    """
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    metadata = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(bytes(metadata_buffer), 0))
    versions = {(1, 0, 0)}

    def files(items):
        for item in items or []:
            if item.type == fb.AssociatedFileType.VOCABULARY:
                versions.add((1, 0, 1))
            if item.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
                versions.add((1, 4, 0))
            if item.version:
                versions.add((1, 4, 1))

    def units(items):
        for unit in items or []:
            if unit.optionsType in (
                fb.ProcessUnitOptions.BertTokenizerOptions,
                fb.ProcessUnitOptions.SentencePieceTokenizerOptions,
            ):
                versions.add((1, 1, 0))
            if unit.optionsType == fb.ProcessUnitOptions.RegexTokenizerOptions:
                versions.add((1, 2, 1))

    files(metadata.associatedFiles)
    for subgraph in metadata.subgraphMetadata or []:
        if subgraph.inputProcessUnits or subgraph.outputProcessUnits:
            versions.add((1, 1, 0))
        if subgraph.inputTensorGroups or subgraph.outputTensorGroups:
            versions.add((1, 2, 0))
        if subgraph.customMetadata:
            versions.add((1, 5, 0))
        files(subgraph.associatedFiles)
        units(subgraph.inputProcessUnits)
        units(subgraph.outputProcessUnits)
        for tensor in (subgraph.inputTensorMetadata or []) + (subgraph.outputTensorMetadata or []):
            files(tensor.associatedFiles)
            units(tensor.processUnits)
            if (
                tensor.content is not None
                and tensor.content.contentPropertiesType == fb.ContentProperties.AudioProperties
            ):
                versions.add((1, 3, 0))
    return ".".join(str(part) for part in max(versions))


def _metadata_writer():
    """MediaPipe's metadata writer modules, with the version module supplied where the wheel lacks it."""
    try:
        importlib.import_module("mediapipe.tasks.metadata.metadata_schema_py_generated")
    except ImportError as exc:
        raise ExportError(
            "TFLite Model Metadata is written with MediaPipe's metadata writer: "
            "pip install 'keras-panns[export]' (or mediapipe), or export with metadata=False "
            "(--nometadata)"
        ) from exc
    try:
        importlib.import_module(_VERSION_MODULE)
    except ImportError:
        module = types.ModuleType(_VERSION_MODULE)
        module.GetMinimumMetadataParserVersion = minimum_parser_version
        parent = None
        for name in ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata", "mediapipe.tasks.cc.metadata.python"):
            if name not in sys.modules:
                sys.modules[name] = types.ModuleType(name)
            parent = name
        setattr(sys.modules[parent], "_pywrap_metadata_version", module)
        sys.modules[_VERSION_MODULE] = module
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer

    return fb, metadata_info, metadata_writer


def _output_names(model_buffer, signature_key):
    """Signature output names in the order of the subgraph's output tensors (the order metadata pairs by)."""
    from mediapipe.tasks.metadata import schema_py_generated as tflite_fb

    model = tflite_fb.Model.GetRootAsModel(model_buffer, 0)
    by_tensor = {}
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        if signature.SignatureKey().decode() != signature_key:
            continue
        for i in range(signature.OutputsLength()):
            by_tensor[signature.Outputs(i).TensorIndex()] = signature.Outputs(i).Name().decode()
    graph = model.Subgraphs(0)
    return [by_tensor.get(graph.Outputs(i), f"output_{i}") for i in range(graph.OutputsLength())]


def describe(model, seconds):
    """Name, version, description, author and licence of an exported model, from its zoo card."""
    card = getattr(model, "card", None)
    architecture = type(model).__name__
    window = "any length" if seconds is None else f"{seconds:g} s"
    lines = [
        f"PANNs {architecture} audio tagger (Kong et al. 2020, arXiv:1912.10211), exported by keras_panns "
        f"{__version__}. Input: mono float32 waveform in [-1, 1] at {model.sample_rate} Hz, {window} per "
        f"inference. Output: independent sigmoid scores of {len(model.labels)} classes."
    ]
    licence = "unknown (weights not from the zoo)"
    if card is not None:
        licence = card.license_summary
        source = card.checkpoint.get("url") or "a local file"
        lines.append(
            f"Weights: {card.checkpoint.get('file_name')} from {source}"
            + (f" ({card.checksum})" if card.checksum else "")
            + (f"; AudioSet mAP {card.metrics['mAP']}" if card.metrics.get("mAP") else "")
            + "."
        )
    return {
        "name": card.name if card is not None else model.name,
        "version": f"keras_panns {__version__}" + (f", {card.checkpoint.get('file_name')}" if card else ""),
        "description": " ".join(lines),
        "author": "Qiuqiang Kong et al. (PANNs); converted by keras_panns",
        "licenses": licence,
    }


def score_calibration_rows(points, labels):
    """MediaPipe's per-class sigmoid parameters `(scale, slope, offset, min_score)` for `points`.

    MediaPipe Tasks compute `scale / (1 + exp(-(slope * g(x) + offset)))` with `g` the inverse logistic
    (`logit`) when the raw score exceeds `min_score`, and `default_score` (0) otherwise: with scale 1 that is
    `OperatingPoints.calibrate`, and `min_score` is the class's threshold. A class without a calibration
    keeps its raw score (slope 1, offset 0: `sigmoid(logit(x)) = x`), cut at its threshold too.

    Args:
        points: `keras_panns.decisions.OperatingPoints`.
        labels: sequence of str, the output's classes.

    Returns:
        list of `(1.0, slope, offset, min_score)`, one per class.

    Example:
    ```python
    score_calibration_rows(points, model.labels)[0]  # (1.0, 1.7, -0.4, 0.31)
    ```
    """
    thresholds = points.thresholds(labels)
    rows = []
    for name, threshold in zip(labels, thresholds):
        slope, offset = points.classes.get(name, {}).get("calibration") or (1.0, 0.0)
        rows.append((1.0, float(slope), float(offset), float(threshold)))
    return rows


def write_metadata(model_buffer, model, *, seconds, signature_key="serving_default", operating_points=None):
    """Returns `model_buffer` (a converted `.tflite`) with TFLite Model Metadata for `model`.

    With `operating_points`, the classification output also carries MediaPipe's score calibration: MediaPipe
    Tasks then return each class's calibrated score above its threshold, and 0 below it (see
    `score_calibration_rows`). The file's own output stays the model's raw scores.

    Args:
        model_buffer: bytes of the TFLite file, converted from `model`.
        model: the keras_panns model it was converted from (labels, sample
            rate, zoo card).
        seconds: float or None. The input length (None: dynamic).
        signature_key: str. The signature whose output names the tensors.
        operating_points: `keras_panns.decisions.OperatingPoints` or None, chosen for `model`.

    Returns:
        bytes: the model with metadata and its label file packed in.

    Raises:
        ExportError: the file has no classification output, or the writer
            is not installed.

    Example:
    ```python
    buffer = write_metadata(open("cnn14.tflite", "rb").read(), model, seconds=10.0)
    ```
    """
    fb, metadata_info, metadata_writer = _metadata_writer()
    outputs = _output_names(model_buffer, signature_key)
    if CLASSIFICATION_OUTPUT not in outputs:
        raise ExportError(
            f"TFLite Model Metadata describes a classifier, and this file has no "
            f"{CLASSIFICATION_OUTPUT!r} output (it has {outputs}); export with metadata=False"
        )

    class AudioTensorMd(metadata_info.TensorMd):
        """An input tensor with AudioProperties (the writer has no audio input of its own)."""

        def create_metadata(self):
            tensor = super().create_metadata()
            tensor.content.contentProperties.sampleRate = int(model.sample_rate)
            tensor.content.contentProperties.channels = 1
            return tensor

    class AudioClassifierWriter(metadata_writer.MetadataWriter):
        def add_audio_input(self, name, description):
            self._input_mds.append(
                AudioTensorMd(name=name, description=description, content_type=fb.ContentProperties.AudioProperties)
            )
            return self

        def _export_calibration_file(self, filename, calibrations):
            # MediaPipe's writer ends the file with a newline, and its ScoreCalibrationCalculator counts the
            # empty line after it as one more class (528 sigmoids for 527 scores), failing every run.
            # Canary: test_mediapipe_still_writes_a_trailing_calibration_line.
            path = super()._export_calibration_file(filename, calibrations)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(text[:-1] if text.endswith("\n") else text)
            return path

    info = describe(model, seconds)
    writer = AudioClassifierWriter.create(bytearray(model_buffer))
    writer._general_md = metadata_info.GeneralMd(**info)
    writer.add_audio_input("waveform", f"Mono waveform in [-1, 1] at {model.sample_rate} Hz.")
    calibration = None
    if operating_points is not None:
        calibration = metadata_writer.ScoreCalibration(
            metadata_writer.ScoreCalibration.transformation_types.INVERSE_LOGISTIC,
            [
                metadata_writer.CalibrationParameter(*row)
                for row in score_calibration_rows(operating_points, model.labels)
            ],
            default_score=0,
        )
    for name in outputs:
        if name == CLASSIFICATION_OUTPUT:
            writer.add_classification_output(
                metadata_writer.Labels().add(list(model.labels), exported_filename=LABEL_FILE),
                score_calibration=calibration,
                name=name,
                description=_DESCRIPTIONS[name],
            )
        else:
            writer.add_feature_output(name=name, description=_DESCRIPTIONS.get(name, name))
    try:
        buffer, _ = writer.populate()
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"writing TFLite Model Metadata failed: {exc}") from exc
    finally:
        # MediaPipe's writer removes its temporary folder in __del__, which at interpreter exit (module
        # globals already gone) printed a traceback after a successful export: clean up here, while it can.
        writer._temp_folder.cleanup()
        del writer
    return bytes(buffer)


def read_metadata(path):
    """The TFLite Model Metadata of a file as a dict (MediaPipe's JSON form), or None if it has none.

    Example:
    ```python
    read_metadata("cnn14.tflite")["subgraph_metadata"][0]["input_tensor_metadata"]
    ```
    """
    import json

    _metadata_writer()
    from mediapipe.tasks.python.metadata import metadata

    try:
        displayer = metadata.MetadataDisplayer.with_model_file(str(path))
    except ValueError:
        return None
    return json.loads(displayer.get_metadata_json())


def label_file(path):
    """The class names packed into an exported file with its metadata."""
    _metadata_writer()
    from mediapipe.tasks.python.metadata import metadata

    displayer = metadata.MetadataDisplayer.with_model_file(str(path))
    return displayer.get_associated_file_buffer(LABEL_FILE).decode("utf-8").splitlines()
