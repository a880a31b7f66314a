"""`build_demo`: a static web page that tags audio in the browser with an exported model."""

import dataclasses
import functools
import importlib.resources
import json
import os
import shutil
import sys
import tempfile

from keras_panns.demo import runtime
from keras_panns.errors import ExportError
from keras_panns.version import __version__

WEB_FILES = ("index.html", "app.js", "style.css", "recorder-worklet.js")
QUANTIZE_CHOICES = ("auto", "none", "dynamic", "int8")
MODEL_FILE = "model.onnx"
CONFIG_FILE = "model.json"


@dataclasses.dataclass
class DemoReport:
    """What `build_demo` wrote.

    Attributes:
        site_dir: str. The folder to serve.
        model_path: str. The ONNX file inside it.
        quantize: str. The quantization the page runs (`"none"`, `"dynamic"` or `"int8"`).
        size_bytes: int. Size of the ONNX file.
        runtime_version: str. The onnxruntime-web version copied in.
        export_summary: str. The validation line of the exported file.
        fallback: str or None. Why `quantize="auto"` fell back to float32, if it did.

    Example:
    ```python
    report = keras_panns.demo.build_demo(model, "site/")
    print(report.summary())  # the page, its model's size and how it validated
    ```
    """

    site_dir: str
    model_path: str
    quantize: str
    size_bytes: int
    runtime_version: str
    export_summary: str
    fallback: str = None

    def summary(self):
        line = (
            f"{self.site_dir}: {os.path.basename(self.model_path)} ({self.quantize}, "
            f"{self.size_bytes / 1e6:.1f} MB) on onnxruntime-web {self.runtime_version}"
        )
        if self.fallback:
            line += f"; float32 because {self.fallback}"
        return line


def _export(model, path, quantize, calibration, threads):
    """`(ExportReport, why auto fell back to float32 or None)`."""
    from keras_panns.export import export_model

    # A dynamic length: clips shorter than a window are tagged as they are, as `tag` does in Python.
    export = functools.partial(
        export_model, model, path, format="onnx", length=None, calibration=calibration, threads=threads
    )
    if quantize != "auto":
        return export(quantize=quantize), None
    if calibration is None:
        return export(), "no --calibration audio was given for int8"
    try:
        return export(quantize="int8"), None
    except ExportError as exc:
        if "quantization" not in str(exc):
            raise
        return export(), f"int8 {exc}"


def _card_info(model):
    card = getattr(model, "card", None)
    if card is None:
        return {"name": model.name, "weights": None, "url": None, "digest": None, "license": None, "mAP": None}
    return {
        "name": card.name,
        "weights": card.checkpoint.get("file_name"),
        "url": card.checkpoint.get("url")
        or (f"a local file ({card.checkpoint['local_path']})" if card.checkpoint.get("local_path") else None),
        "digest": card.checksum,
        "mAP": card.metrics.get("mAP"),
        "license": card.license_summary,
    }


def build_demo(
    model,
    site_dir,
    *,
    quantize="auto",
    calibration=None,
    runtime_source=None,
    cache_dir=None,
    window_seconds=10.0,
    hop_seconds=5.0,
    top_k=5,
    threads=None,
    overwrite=False,
):
    """Writes a static site that tags audio files and microphone recordings in the browser.

    The site holds the model exported to ONNX (front end included, validated
    against Keras), its labels and card, the page, and onnxruntime-web's
    WASM runtime taken from the npm registry at build time. It works from any
    static server, e.g. `python -m http.server -d site`, with no internet.
    The page decodes and resamples audio to the model's rate in the browser,
    tags clips up to one window as they are and longer ones window by window
    (as `tag_long`: windows of `window_seconds` every `hop_seconds`, the last
    moved back to end with the audio, scores aggregated by max), and draws
    the timeline of the top classes.

    Args:
        model: a keras_panns tagging model (with `clipwise_output`).
        site_dir: str. Folder to write; it must be empty or absent unless `overwrite`.
        quantize: str. `"auto"` (int8 when `calibration` is given and the
            int8 file keeps export's agreement bounds, else float32),
            `"none"`, `"dynamic"` or `"int8"`.
        calibration: directory or list of audio files for int8.
        runtime_source: None (npm), or an onnxruntime-web `.tgz` or unpacked package.
        cache_dir: str or None. The keras_panns cache root the npm tarball is kept in (default:
            `$KERAS_PANNS_CACHE` or `~/.cache/keras_panns`).
        window_seconds: float. Windows of long audio.
        hop_seconds: float. Windows of long audio.
        top_k: int. Tags shown.
        threads: int or None. Threads of the onnxruntime that validates the export.
        overwrite: bool. Replace the files of an existing site.

    Returns:
        A `DemoReport`.

    Raises:
        ExportError: a model without `clipwise_output`, an unknown `quantize`, bad window and hop, or a
            `site_dir` that is a file or a non-empty folder (without `overwrite`).

    Example:
    ```python
    model = keras_panns.MobileNetV1.from_pretrained()
    print(keras_panns.demo.build_demo(model, "site").summary())
    # then: python -m http.server -d site 8000, and open http://localhost:8000
    ```
    """
    if "clipwise_output" not in model.output:
        raise ExportError(f"the demo tags audio and needs a clipwise_output; {model.name} has {list(model.output)}")
    if quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}")
    if window_seconds <= 0 or hop_seconds <= 0 or hop_seconds > window_seconds:
        raise ExportError(f"need 0 < hop_seconds <= window_seconds, got {hop_seconds} and {window_seconds}")
    model.check_input_length(int(round(window_seconds * model.sample_rate)))
    site_dir = os.fspath(site_dir)
    if os.path.isfile(site_dir):
        raise ExportError(f"{site_dir} is a file; the demo needs a folder")
    if os.path.isdir(site_dir) and os.listdir(site_dir) and not overwrite:
        raise ExportError(f"{site_dir} is not empty; choose a new folder or overwrite it (--overwrite)")
    # The site is written to a scratch folder beside it and moved in once complete, so a failed build leaves
    # neither a half-written site nor, with overwrite, a half-replaced one.
    parent = os.path.dirname(os.path.abspath(site_dir))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".keras_panns_demo-", dir=parent)
    try:
        config = _write_site(
            model,
            scratch,
            quantize,
            calibration,
            runtime_source,
            cache_dir,
            window_seconds,
            hop_seconds,
            top_k,
            threads,
        )
        os.makedirs(site_dir, exist_ok=True)
        for name in os.listdir(scratch):
            target = os.path.join(site_dir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)  # the ort/ folder of an earlier build
            os.replace(os.path.join(scratch, name), target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DemoReport(
        site_dir,
        os.path.join(site_dir, MODEL_FILE),
        config["quantize"],
        config["size_bytes"],
        config["runtime"]["version"],
        config["export_summary"],
        config["fallback"],
    )


def _write_site(
    model, site_dir, quantize, calibration, runtime_source, cache_dir, window_seconds, hop_seconds, top_k, threads
):
    # The runtime first: it is the step that needs the network, and it fails in seconds, not after an export.
    version = runtime.install(site_dir, runtime_source, cache_dir=cache_dir)
    model_path = os.path.join(site_dir, MODEL_FILE)
    print(f"exporting {model.name} to ONNX ...", file=sys.stderr)
    report, fallback = _export(model, model_path, quantize, calibration, threads)
    os.remove(report.metadata_path)  # the export's sidecar: its contents go into model.json
    web = importlib.resources.files("keras_panns.demo") / "web"
    for name in WEB_FILES:
        with (web / name).open("rb") as src, open(os.path.join(site_dir, name), "wb") as dst:
            shutil.copyfileobj(src, dst)
    config = {
        "model": _card_info(model),
        "architecture": type(model).__name__,
        "sample_rate": model.sample_rate,
        "min_samples": int(model.min_samples),
        "window_seconds": window_seconds,
        "hop_seconds": hop_seconds,
        "aggregate": "max",
        "top_k": top_k,
        "file": MODEL_FILE,
        "size_bytes": report.size_bytes,
        "quantize": report.quantize,
        "fallback": fallback,
        "labels": list(model.labels),
        "validation": {
            "clips": report.validation_clips,
            "max_abs_error": report.max_abs_error,
            "mean_abs_error": report.mean_abs_error,
            "top5_overlap": report.top5_overlap,
        },
        "runtime": {"name": runtime.PACKAGE, "version": version},
        "keras_panns": __version__,
    }
    with open(os.path.join(site_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    return dict(config, export_summary=report.summary())
