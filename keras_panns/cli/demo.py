"""Builds a static web page that tags audio in the browser, with no server and no internet.

The folder written to --out holds the page, the model exported to ONNX (log-mel
front end included, validated against Keras like `keras-panns export`), its
labels, weights' provenance and licence, and onnxruntime-web's WASM runtime,
taken from the npm registry when the site is built (npm must be installed, or
give --runtime a downloaded onnxruntime-web .tgz) and cached for later builds.
Nothing is fetched from a CDN when the page runs.

On the page: open or drop an audio file (decoded and resampled to the model's
rate by the browser), or record from the microphone; it shows the top tags
with their scores and, for audio longer than one window, a timeline of the top
classes (windows as `keras_panns.tag_long`). It states the model, weights,
licence, sample rate, file size and how long one 10-s clip took.

Small models suit the web (the default, MobileNetV1, is a 23.5 MB ONNX file in float32, 9.4 MB in int8).
--quantize auto (the default) exports int8 when --calibration audio is given
and the int8 file keeps export's agreement bounds on it, float32 otherwise.

Serve it with any static server and open the address it prints, e.g.:
  python -m http.server -d site 8000      # then http://localhost:8000
(The microphone needs http://localhost or https.)

Examples:
  keras-panns demo --out site
  keras-panns demo --model mobilenet_v2 --calibration clips/ --out site
  keras-panns demo --checkpoint MobileNetV1_mAP=0.389.pth --runtime onnxruntime-web-1.31.1.tgz --out site
"""

import sys

from keras_panns.cli.common import define_model_flags, define_out_flag, load_model, no_arguments

USAGE = "[--model NAME|--checkpoint PATH] [--quantize auto|none|dynamic|int8 --calibration DIR] --out DIR"


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "mobilenet_v1", "Zoo name of the model (small ones load fastest in a browser).")
    flags.DEFINE_enum(
        "quantize",
        "auto",
        ["auto", "none", "dynamic", "int8"],
        "auto: int8 if --calibration is given and it keeps its agreement bounds, else float32.",
        flag_values=fv,
    )
    flags.DEFINE_string("calibration", None, "Directory of representative audio for int8.", flag_values=fv)
    flags.DEFINE_string(
        "runtime",
        None,
        "An onnxruntime-web .tgz (from 'npm pack onnxruntime-web@VERSION') or "
        "unpacked package to use instead of fetching it with npm.",
        flag_values=fv,
    )
    flags.DEFINE_float("window", 10.0, "Window length in seconds for long audio.", lower_bound=0.1, flag_values=fv)
    flags.DEFINE_float("hop", 5.0, "Step between windows in seconds.", lower_bound=0.1, flag_values=fv)
    flags.DEFINE_integer("top_k", 5, "Tags shown (and rows of the timeline).", lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "Replace the files of an existing site in --out.", flag_values=fv)
    define_out_flag(fv, "Folder of the site to write.", required=True)
    flags.register_multi_flags_validator(
        ["window", "hop"], lambda f: f["hop"] <= f["window"], message="--hop must not exceed --window", flag_values=fv
    )


def run(args, fv):
    from keras_panns.demo import build_demo

    no_arguments(args)
    model = load_model(fv)
    report = build_demo(
        model,
        fv.out,
        quantize=fv.quantize,
        calibration=fv.calibration,
        runtime_source=fv.runtime,
        cache_dir=fv.cache_dir,
        window_seconds=fv.window,
        hop_seconds=fv.hop,
        top_k=fv.top_k,
        overwrite=fv.overwrite,
    )
    print(report.export_summary)
    print(report.summary())
    print(f"serve it: python -m http.server -d {fv.out} 8000   then open http://localhost:8000", file=sys.stderr)
    return 0
