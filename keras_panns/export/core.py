"""`export_model`: one call from a Keras PANNs model to a validated TFLite or ONNX file."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_panns.audio import expand_audio_paths, load_audio
from keras_panns.errors import AudioError, ExportError, PANNsError
from keras_panns.layers import DFT_MODES, set_dft

if TYPE_CHECKING:
    import keras

    from keras_panns.decisions import OperatingPoints

FORMATS = ("tflite", "onnx")
# The fastest DFT each runtime can run: TFLite has a builtin real FFT (MobileNetV1: 1.2x the conv front end
# in LiteRT); tf2onnx cannot convert one, so ONNX keeps the DFT convolution.
DEFAULT_FRONT_END = {"tflite": "fft", "onnx": "conv"}
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
FLOAT_TOLERANCE = 1e-4
# Quantized exports must agree with Keras this well on the validation audio (mean over clips and classes of
# |score difference|, and mean top-5 overlap); looser agreement means the quantization broke the model.
QUANTIZED_MAX_MEAN_ABS = 0.05
QUANTIZED_MIN_TOP5 = 0.6


@dataclasses.dataclass
class ExportReport:
    """What was written and how well it reproduces the Keras model.

    Attributes:
        path: str. The exported file.
        format: str. `"tflite"` or `"onnx"`.
        quantize: str. `"none"`, `"float16"`, `"dynamic"` or `"int8"`.
        input_name: str. Always `"waveform"`.
        input_shape: tuple. `(None, samples)`; samples is None for a dynamic length.
        sample_rate: int. Rate the input must have.
        outputs: dict name -> shape, e.g. `{"clipwise_output": (None, 527), "embedding": (None, 2048)}`.
        size_bytes: int.
        ops: list of str. Operator types in the file.
        max_abs_error: dict name -> float. Worst |exported - Keras| on the validation audio.
        mean_abs_error: dict name -> float.
        top5_overlap: float or None. Mean top-5 class agreement (quantized exports).
        validation_clips: int. Clips the file was checked on.
        metadata_path: str. The JSON sidecar (input/output spec, sample rate, labels).
        front_end: str. The exported DFT, `"fft"` or `"conv"`.
        tflite_metadata: bool. Whether the file carries TFLite Model Metadata.

    Example:
    ```python
    report = keras_panns.export_model(model, "cnn14.tflite")
    report.max_abs_error["clipwise_output"]  # e.g. 2e-06
    print(report.summary())
    ```
    """

    path: str
    format: str
    quantize: str
    input_name: str
    input_shape: tuple
    sample_rate: int
    outputs: dict
    size_bytes: int
    ops: list
    max_abs_error: dict
    mean_abs_error: dict
    top5_overlap: float
    validation_clips: int
    metadata_path: str
    front_end: str = "conv"
    tflite_metadata: bool = False

    def summary(self):
        errors = ", ".join(f"{k} max {v:.2e}" for k, v in self.max_abs_error.items())
        line = (
            f"{self.path}: {self.format} ({self.quantize}, {self.front_end} front end"
            f"{', TFLite Model Metadata' if self.tflite_metadata else ''}), {self.size_bytes / 1e6:.1f} MB, input "
            f"{self.input_name} {self.input_shape} at {self.sample_rate} Hz; checked on "
            f"{self.validation_clips} clips: {errors}"
        )
        if self.top5_overlap is not None:
            line += f", top-5 overlap {self.top5_overlap:.2f}"
        return line


def _input_length(model, length):
    if length in (None, "dynamic"):
        return None
    samples = int(round(float(length) * model.sample_rate))
    model.check_input_length(samples)
    return samples


def synthetic_clips(sample_rate, samples, count=3, seed=0):
    """Deterministic test audio: a chirp, noise bursts and tones (for files with no audio given).

    Export validates on them when no audio is given, and `auto` checks a runtime's agreement on them.

    Args:
        sample_rate: int. The clips' rate.
        samples: int. Each clip's length.
        count: int. How many clips (up to 3).
        seed: int. The noise's seed.

    Returns:
        list of float32 arrays.

    Example:
    ```python
    synthetic_clips(32000, 320000)  # three 10-s clips at 32 kHz
    ```
    """
    rng = np.random.RandomState(seed)
    t = np.arange(samples) / sample_rate
    chirp = 0.5 * np.sin(2 * np.pi * (100 + 2000 * t / max(t[-1], 1e-3)) * t)
    bursts = rng.normal(0, 0.2, samples) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    tones = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t) + rng.normal(0, 0.01, samples)
    return [c.astype(np.float32) for c in (chirp, bursts, tones)][:count]


def audio_clips(model, directory_or_files, samples, limit=None):
    """Mono clips at the model's rate, cut or zero-padded to `samples` (None: as they are)."""
    single = isinstance(directory_or_files, (str, os.PathLike))
    try:
        files = expand_audio_paths([directory_or_files] if single else directory_or_files)
    except AudioError as exc:
        raise ExportError(str(exc)) from exc
    clips = []
    for path in files:
        if limit is not None and len(clips) >= limit:
            break
        try:
            clip = load_audio(path, model.sample_rate)
        except PANNsError:
            continue  # a stray non-audio file in the directory is not an error
        if samples is not None:
            clip = np.pad(clip, (0, max(0, samples - len(clip))))[:samples]
        elif len(clip) < model.min_samples:
            continue
        clips.append(clip)
    if not clips:
        raise ExportError(f"no readable audio in {directory_or_files}")
    return clips


def _compare(model, run_exported, clips, quantized, outputs):
    """Runs Keras and the exported file clip by clip; returns (max, mean) abs errors and top-5 overlap."""
    max_err, sums, overlaps = {}, {}, []
    for clip in clips:
        want = {k: np.asarray(v) for k, v in model.predict_on_batch(clip[None]).items() if k in outputs}
        got = run_exported(clip[None])
        for name, value in want.items():
            if name not in got:
                raise ExportError(f"the exported file has no output {name!r} (it has {sorted(got)})")
            # Errors are relative to the output's scale where it exceeds 1 (embeddings), absolute for scores.
            diff = np.abs(np.asarray(got[name], np.float32) - value) / max(1.0, float(np.abs(value).max()))
            if not np.all(np.isfinite(diff)):
                raise ExportError(f"the exported file gives non-finite {name} values")
            max_err[name] = max(max_err.get(name, 0.0), float(diff.max()))
            sums[name] = sums.get(name, 0.0) + float(diff.mean())
        if quantized and "clipwise_output" in want:
            a, b = np.argsort(-want["clipwise_output"][0])[:5], np.argsort(-np.asarray(got["clipwise_output"])[0])[:5]
            overlaps.append(len(set(a) & set(b)) / 5)
    mean_err = {k: v / len(clips) for k, v in sums.items()}
    return max_err, mean_err, (float(np.mean(overlaps)) if overlaps else None)


def _check_agreement(max_err, mean_err, top5, quantized, tolerance, max_mean_abs, min_top5):
    if not quantized:
        worst = max(max_err.values())
        if worst > tolerance:
            raise ExportError(
                f"the exported file differs from the Keras model by {worst:.3g} (> {tolerance:g}): {max_err}"
            )
        return
    score_err = mean_err.get("clipwise_output", mean_err.get("framewise_output"))
    if score_err is not None and score_err > max_mean_abs:
        raise ExportError(
            f"quantization changed the scores by {score_err:.3f} on average (bound {max_mean_abs}); "
            "use a better calibration set or a lighter mode"
        )
    if top5 is not None and top5 < min_top5:
        raise ExportError(f"quantization changed the top-5 classes (overlap {top5:.2f} < {min_top5})")


def _metadata(model, report):
    card = getattr(model, "card", None)
    return {
        "model": card.name if card else model.name,
        "architecture": type(model).__name__,
        "format": report.format,
        "quantize": report.quantize,
        "front_end": report.front_end,
        "tflite_metadata": report.tflite_metadata,
        "sample_rate": model.sample_rate,
        "input": {
            "name": report.input_name,
            "shape": list(report.input_shape),
            "dtype": "float32",
            "description": "mono waveform in [-1, 1] at sample_rate; null dimensions are dynamic",
        },
        "outputs": {k: {"shape": list(v), "dtype": "float32"} for k, v in report.outputs.items()},
        "labels": list(model.labels),
        "validation": {
            "clips": report.validation_clips,
            "max_abs_error": report.max_abs_error,
            "mean_abs_error": report.mean_abs_error,
            "top5_overlap": report.top5_overlap,
        },
    }


def _check_outputs(model, outputs, format, metadata, mediapipe, samples):
    """The outputs to export, in the model's order, after checking them against the format and options."""
    names = list(model.output)
    if mediapipe:
        if format != "tflite":
            raise ExportError("MediaPipe Tasks load TFLite files: use format='tflite' (--format tflite) with mediapipe")
        if samples is None:
            raise ExportError(
                "MediaPipe's AudioClassifier cuts audio into windows of the model's input length, "
                "so it needs a fixed length: give length in seconds (--length 10), not 'dynamic'"
            )
        if outputs is not None and list(outputs) != ["clipwise_output"]:
            raise ExportError(
                f"MediaPipe's AudioClassifier makes every output a classification head; a MediaPipe "
                f"file has clipwise_output only, not {list(outputs)}"
            )
        outputs = ["clipwise_output"]
    if outputs is None:
        outputs = names
    unknown = [name for name in outputs if name not in names]
    if unknown or not outputs:
        raise ExportError(f"outputs {unknown or list(outputs)} are not outputs of {model.name} (it has {names})")
    if metadata and "clipwise_output" not in outputs:
        raise ExportError(
            f"TFLite Model Metadata describes a classifier and needs the clipwise_output output "
            f"(exporting {list(outputs)}); keep it, or export with metadata=False (--nometadata)"
        )
    return [name for name in names if name in outputs]


def _serving_function(model, outputs):
    """What the exported file computes: the model's inference forward, restricted to `outputs`."""

    def serve(waveform):
        return {name: value for name, value in model(waveform, training=False).items() if name in outputs}

    return serve


def export_model(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    format: str = "tflite",
    length: float | str | None = 10.0,
    quantize: str = "none",
    front_end: str | None = None,
    outputs: Sequence[str] | None = None,
    metadata: bool = True,
    mediapipe: bool = False,
    threads: int | None = None,
    calibration: str | os.PathLike | Sequence[str] | None = None,
    validation: str | os.PathLike | Sequence[str] | None = None,
    tolerance: float = FLOAT_TOLERANCE,
    max_mean_abs: float = QUANTIZED_MAX_MEAN_ABS,
    min_top5: float = QUANTIZED_MIN_TOP5,
    max_calibration_clips: int = 100,
    operating_points: OperatingPoints | None = None,
) -> ExportReport:
    """Exports `model` with its front end to TFLite or ONNX, then proves the file reproduces it.

    The file gets one input, `waveform` float32 `(batch, samples)` at
    `model.sample_rate`, and the model's outputs by name (`clipwise_output`,
    `embedding`, `framewise_output`). Batch is always dynamic; `length=None`
    (or `"dynamic"`) also makes the length dynamic. A JSON sidecar
    (`<path>.json`) records the names, shapes, sample rate and labels.

    TFLite files also carry TFLite Model Metadata (audio input properties,
    the classification output with its label file, name, version, licence
    and weights' provenance), written with MediaPipe's metadata writer.
    `mediapipe=True` makes the file MediaPipe Tasks' `AudioClassifier` can
    serve: a fixed length, a batch of one and `clipwise_output` as its only
    output (the classifier makes every output a classification head).

    Front end: `front_end="fft"` computes the DFT with a real FFT (TFLite's
    builtin `RFFT2D`), `"conv"` with the reference's DFT convolution, which
    GPU delegates without an FFT kernel can run and tf2onnx can convert. The
    default is the faster one each format supports (TFLite fft, ONNX conv);
    either way the file must match the Keras model within `tolerance`.

    Quantization (TFLite: all four; ONNX: none, dynamic, int8). The log-mel
    front end always stays float32, because its power spectra overflow
    float16 and its dynamic range (1e-10 to 1e6) does not survive int8:
    - `float16`: weights stored as float16, computed in float32.
    - `dynamic`: int8 weights, activations quantized on the fly.
    - `int8`: int8 weights and activations, calibrated on `calibration` audio.

    Operating points (`keras-panns calibrate`, chosen for this model) go into
    the TFLite metadata as MediaPipe's score calibration: MediaPipe Tasks then
    return each class's calibrated score above its threshold and 0 below it.
    The file's own output stays the raw scores, validated as usual.

    Validation: float exports must match Keras within `tolerance` on every
    output (absolute for scores, relative to the largest value for
    embeddings); quantized ones must keep the mean absolute score change
    under `max_mean_abs` and the mean top-5 overlap over `min_top5` on the
    validation audio. Nothing is left at `path` if validation fails.

    Args:
        model: a keras_panns model (TensorFlow backend).
        path: str. Output file.
        format: str. `"tflite"` or `"onnx"`.
        length: float seconds, or None/`"dynamic"`.
        quantize: str. `"none"`, `"float16"`, `"dynamic"` or `"int8"`.
        front_end: str or None. `"fft"`, `"conv"`, or None for the format's default.
        outputs: list of output names to keep (default: all).
        metadata: bool. Write TFLite Model Metadata (TFLite only; needs mediapipe).
        mediapipe: bool. Export the MediaPipe AudioClassifier variant.
        threads: int or None. Threads of the runtime that validates the
            file (None: every core).
        calibration: directory or list of audio files; required for int8.
        validation: directory or list of audio files to validate on (default:
            the calibration audio, else synthetic test signals).
        tolerance: float. Bound for float exports.
        max_mean_abs: float. Bounds for quantized exports.
        min_top5: float. Bounds for quantized exports.
        max_calibration_clips: int.
        operating_points: `keras_panns.decisions.OperatingPoints` or None (TFLite with metadata only).

    Returns:
        An `ExportReport`.

    Raises:
        ExportError: the conversion or its validation failed.

    Example:
    ```python
    model = keras_panns.Cnn14.from_pretrained()
    report = keras_panns.export.export_model(model, "cnn14.tflite", length=10.0)
    print(report.summary())
    ```
    """
    front_end = _check_options(format, quantize, calibration, front_end)
    samples = _input_length(model, length)
    metadata = format == "tflite" and (metadata or mediapipe)
    outputs = _check_outputs(model, outputs, format, metadata, mediapipe, samples)
    _check_operating_points(model, operating_points, metadata, quantize)
    calibration_clips, clips = _clips(model, samples, calibration, validation, max_calibration_clips)
    quantized = quantize != "none"
    batch = 1 if mediapipe else None
    path = os.fspath(path)
    tmp = f"{path}.partial"
    try:
        ops, runner = _convert(
            model,
            tmp,
            format,
            samples,
            quantize,
            calibration_clips,
            outputs,
            front_end,
            metadata,
            threads,
            batch,
            operating_points,
        )
        max_err, mean_err, top5 = _compare(model, runner, clips, quantized, outputs)
        _check_agreement(max_err, mean_err, top5, quantized, tolerance, max_mean_abs, min_top5)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    shapes = {name: (batch,) + tuple(model.output[name].shape[1:]) for name in outputs}
    report = ExportReport(
        path=path,
        format=format,
        quantize=quantize,
        input_name="waveform",
        input_shape=(batch, samples),
        sample_rate=model.sample_rate,
        outputs=shapes,
        size_bytes=os.path.getsize(path),
        ops=ops,
        max_abs_error=max_err,
        mean_abs_error=mean_err,
        top5_overlap=top5,
        validation_clips=len(clips),
        metadata_path=path + ".json",
        front_end=front_end,
        tflite_metadata=metadata,
    )
    sidecar = _metadata(model, report)
    if operating_points is not None:
        sidecar["operating_points"] = {
            "target": operating_points.target,
            "classes": sorted(operating_points.classes),
            "default_threshold": operating_points.default_threshold,
        }
    with open(report.metadata_path, "w", encoding="utf-8") as f:
        json.dump(sidecar, f, indent=2)
    return report


def _check_operating_points(model, points, metadata, quantize):
    """Refuses operating points that no metadata would carry, or that were chosen for another model."""
    if points is None:
        return
    if not metadata:
        raise ExportError(
            "operating points travel in TFLite Model Metadata: export with format='tflite' and metadata "
            "(--format tflite, without --nometadata)"
        )
    from keras_panns.runtimes.fingerprint import model_fingerprint

    try:
        points.check_model(model_fingerprint(model, "int8" if quantize == "int8" else "float32"))
    except PANNsError as exc:
        raise ExportError(str(exc)) from exc


def _check_options(format, quantize, calibration, front_end):
    """The front end to export with, after every option is checked (`ExportError` naming the bad one)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError("export runs on the TensorFlow backend; set KERAS_BACKEND=tensorflow")
    if format not in FORMATS:
        raise ExportError(f"format must be one of {FORMATS}, got {format!r}")
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if quantize == "int8" and calibration is None:
        raise ExportError("int8 quantization needs calibration audio (a directory of representative files)")
    front_end = DEFAULT_FRONT_END[format] if front_end is None else front_end
    if front_end not in DFT_MODES:
        raise ExportError(f"front_end must be one of {DFT_MODES}, got {front_end!r}")
    if format == "onnx" and front_end == "fft":
        raise ExportError(
            "tf2onnx cannot convert the real FFT (its RFFT handler rejects the node); "
            "export ONNX with front_end='conv' (--front_end conv)"
        )
    return front_end


def _clips(model, samples, calibration, validation, max_calibration_clips):
    """`(calibration clips or None, validation clips)`: real audio where given, else synthetic clips."""
    check_samples = samples or 10 * model.sample_rate
    calibration_clips = (
        audio_clips(model, calibration, check_samples, max_calibration_clips) if calibration is not None else None
    )
    if validation is not None:
        clips = audio_clips(model, validation, samples, limit=20)
    elif calibration_clips is not None:
        clips = calibration_clips[:8]
    else:
        clips = synthetic_clips(model.sample_rate, check_samples)
    if samples is None:  # a dynamic length must work at other lengths too
        clips = clips + [clips[0][: max(model.min_samples, int(3.3 * model.sample_rate))]]
    return calibration_clips, clips


def _convert(
    model, tmp, format, samples, quantize, calibration_clips, outputs, front_end, metadata, threads, batch, points
):
    """Writes the converted file to `tmp`; returns `(its op names, a runner of it)`."""
    serve = _serving_function(model, outputs)
    # The Keras reference keeps its own DFT; only the traced export uses front_end.
    previous = set_dft(model, front_end)
    try:
        if format == "tflite":
            from keras_panns.export import tflite

            # MediaPipe feeds one window at a time; a static batch of 1 lets XNNPACK plan the whole
            # graph ahead (Cnn14: 3.0 vs 2.8 clips/s, median of three paired runs on 2 cores).
            return tflite.convert(
                model,
                tmp,
                samples,
                quantize,
                calibration_clips,
                serve,
                metadata=metadata,
                threads=threads,
                batch=batch,
                operating_points=points,
            )
        from keras_panns.export import onnx_export

        return onnx_export.convert(model, tmp, samples, quantize, calibration_clips, serve, threads=threads)
    finally:
        set_dft(model, previous)
