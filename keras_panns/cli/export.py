"""Exports a model, log-mel front end included, to TFLite (LiteRT) or ONNX.

The exported file takes `waveform`, float32 (batch, samples) at the model's
sample rate, and returns the model's outputs by name (clipwise_output and
embedding for taggers, framewise_output for SED models). Batch is always
dynamic; --length dynamic makes the length dynamic too (else the file takes
exactly --length seconds, which some mobile runtimes prefer).

Nothing is reported as written until it is checked: the file is run in
ai_edge_litert or onnxruntime and compared with the Keras model (float: at
most 1e-4; quantized: mean score change and top-5 agreement on the
validation audio, bounds in --max_mean_abs / --min_top5). TFLite files use
builtin ops only. Quantization keeps the log-mel front end in float32. A JSON
sidecar <out>.json records input/output names and shapes, sample rate and
labels.

TFLite files carry TFLite Model Metadata (sample rate and channels of the
input, the class names as the label file of clipwise_output, name, version,
licence and source of the weights), written with MediaPipe's metadata writer.
--mediapipe writes the file MediaPipe Tasks' AudioClassifier serves (Android,
iOS, web, Python): batch 1, a fixed --length and clipwise_output as its only
output (a static batch also runs about 9% faster in LiteRT).
The classifier cuts longer audio into windows of that length and zero-pads
the last one.

--front_end picks how the spectrogram's DFT is computed: fft (TFLite's
builtin real FFT, the TFLite default) or conv (the reference's DFT
convolution, the ONNX default and the only choice tf2onnx converts; also for
TFLite GPU delegates that have no FFT kernel).

Examples:
  keras-panns export --model cnn14 --format tflite --out cnn14.tflite
  keras-panns export --model cnn6 --format onnx --length dynamic --out cnn6.onnx
  keras-panns export --model mobilenet_v1 --format tflite --quantize int8 --calibration clips/ --out mnv1_int8.tflite
  keras-panns export --model mobilenet_v1 --mediapipe --out mnv1_mediapipe.tflite
"""

import sys

from keras_panns.cli.common import (
    define_model_flags,
    define_operating_points_flag,
    define_out_flag,
    load_model,
    no_arguments,
    operating_points,
)

USAGE = (
    "--model NAME|--checkpoint PATH --format tflite|onnx [--length SECONDS|dynamic] "
    "[--quantize none|float16|dynamic|int8 --calibration DIR] [--front_end fft|conv] [--mediapipe] --out FILE"
)


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "cnn14", "Zoo name of the model.")
    flags.DEFINE_enum("format", "tflite", ["tflite", "onnx"], "Output format.", flag_values=fv)
    flags.DEFINE_string("length", "10", "Input length in seconds, or 'dynamic'.", flag_values=fv)
    flags.register_validator("length", _is_length, message="--length must be seconds or 'dynamic'", flag_values=fv)
    flags.DEFINE_enum(
        "quantize",
        "none",
        ["none", "float16", "dynamic", "int8"],
        "Post-training quantization (float16 is TFLite only; int8 needs --calibration).",
        flag_values=fv,
    )
    flags.DEFINE_string("calibration", None, "Directory of representative audio for int8.", flag_values=fv)
    flags.DEFINE_string(
        "validation",
        None,
        "Directory of audio to validate on (default: the calibration audio, else synthetic test signals).",
        flag_values=fv,
    )
    flags.DEFINE_float("max_mean_abs", 0.05, "Quantized: largest accepted mean |score change|.", flag_values=fv)
    flags.DEFINE_float("min_top5", 0.6, "Quantized: smallest accepted mean top-5 overlap.", flag_values=fv)
    flags.DEFINE_enum(
        "front_end",
        None,
        ["fft", "conv"],
        "DFT of the log-mel front end (default: fft for TFLite, conv for ONNX).",
        flag_values=fv,
    )
    flags.DEFINE_list(
        "outputs", None, "Outputs to keep, e.g. clipwise_output (default: all of the model's).", flag_values=fv
    )
    flags.DEFINE_boolean(
        "metadata", True, "Write TFLite Model Metadata into TFLite files (--nometadata: skip).", flag_values=fv
    )
    flags.DEFINE_boolean(
        "mediapipe",
        False,
        "Write the MediaPipe AudioClassifier variant (TFLite, fixed length, clipwise_output only).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "threads",
        None,
        "Threads of the runtime that validates the file (default: every core).",
        lower_bound=1,
        flag_values=fv,
    )
    define_operating_points_flag(
        fv,
        "written with their calibration into the TFLite metadata (MediaPipe Tasks then return calibrated "
        "scores, 0 below each class's threshold).",
    )
    define_out_flag(fv, "Output file (.tflite or .onnx, as --format).", required=True)
    flags.register_multi_flags_validator(
        ["format", "out"],
        lambda f: f["out"] is None or f["out"].lower().endswith("." + f["format"]),
        message="--out must end in .tflite for --format tflite and .onnx for --format onnx",
        flag_values=fv,
    )


def _is_length(value):
    if value == "dynamic":
        return True
    try:
        return float(value) > 0
    except ValueError:
        return False


def run(args, fv):
    from keras_panns.export import export_model

    no_arguments(args)
    points = operating_points(fv)  # checked against the model by export_model
    model = load_model(fv)
    print(f"exporting {model.name} to {fv.format} ({fv.quantize}) ...", file=sys.stderr)
    report = export_model(
        model,
        fv.out,
        format=fv.format,
        length=None if fv.length == "dynamic" else float(fv.length),
        quantize=fv.quantize,
        front_end=fv.front_end,
        outputs=fv.outputs,
        metadata=fv.metadata,
        mediapipe=fv.mediapipe,
        threads=fv.threads,
        calibration=fv.calibration,
        validation=fv.validation,
        max_mean_abs=fv.max_mean_abs,
        min_top5=fv.min_top5,
        operating_points=points,
    )
    print(report.summary())
    print(f"outputs: {', '.join(f'{k} {v}' for k, v in report.outputs.items())}; spec: {report.metadata_path}")
    return 0
