"""How fast the demo page tags a 10-s clip in headless Chromium, float32 and int8, vs onnxruntime in Python.

For each quantization a demo site is built (`keras_panns.demo.build_demo`,
the golden MobileNetV1 weights, head scaled, unless --checkpoint; int8 calibrated on
ESC-10 clips from ../shared/data), then:
- the page is loaded --runs times in one headless Chromium (Debian's
  chromium, driven by selenium); each load times one 10-s clip after a
  warm-up run, which is the figure the page shows its users;
- the baseline, onnxruntime's CPU provider in Python on the same file and
  the same kind of clip, one thread like the page (a static server sends no
  cross-origin isolation headers, so onnxruntime-web runs one thread), runs
  in its own process in the same run.

Usage:
  python tools/benchmark_demo.py [--runs 5] [--quantize none,int8] [--checkpoint PATH] [--markdown]
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("runs", 5, "Page loads (each times one 10-s clip after a warm-up) and baseline repeats.")
flags.DEFINE_list("quantize", ["none", "int8"], "Sites to build: none, int8, dynamic.")
flags.DEFINE_string("checkpoint", None, "Weights to use (default: the golden MobileNetV1 fixture).")
flags.DEFINE_string(
    "calibration",
    str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esc10" / "audio"),
    "Audio directory for int8 calibration.",
)
flags.DEFINE_boolean("markdown", False, "Print a Markdown table.")
flags.DEFINE_string("worker", None, "Internal: time onnxruntime on this .onnx file and print JSON.")
FLAGS = flags.FLAGS


def _noise(samples):
    # The page's timing clip: the same LCG noise (app.js timeTenSeconds).
    out = np.empty(samples, np.float32)
    seed = 1
    for i in range(samples):
        seed = (seed * 1664525 + 1013904223) % 4294967296
        out[i] = (seed / 4294967296 - 0.5) * 0.2
    return out


def _onnxruntime_worker(path, runs):
    import time

    from keras_panns.runtimes.sessions import load_session

    session = load_session(path, threads=1)
    clip = _noise(320000)[None]
    session.run(["clipwise_output"], {"waveform": clip})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(["clipwise_output"], {"waveform": clip})
        times.append(1000 * (time.perf_counter() - start))
    print(json.dumps({"ms": times}))


def _model():
    import keras_panns
    from keras_panns.testing import golden

    if FLAGS.checkpoint:
        return keras_panns.from_pretrained(FLAGS.checkpoint)
    # Spread scores: with the saturated golden scores int8 fails export's top-5 bound.
    return golden.spread_scores(golden.fixture_model("MobileNetV1"))


def _browser_times(site, runs):
    from keras_panns.testing import browser

    driver = browser.chromium()
    try:
        with browser.serve(site) as url:
            times = []
            for _ in range(runs):
                result = browser.open_page(driver, url)
                if "error" in result:
                    raise RuntimeError(f"the page failed: {result['error']}")
                times.append(result["tenSecondMs"])
            return times
    finally:
        driver.quit()


def main(argv):
    del argv
    if FLAGS.worker:
        return _onnxruntime_worker(FLAGS.worker, FLAGS.runs)
    from keras_panns.audio import expand_audio_paths
    from keras_panns.demo import build_demo

    model = _model()
    calibration = expand_audio_paths([FLAGS.calibration])[::10]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for quantize in FLAGS.quantize:
            site = os.path.join(scratch, quantize)
            report = build_demo(model, site, quantize=quantize, calibration=calibration if quantize == "int8" else None)
            page = _browser_times(site, FLAGS.runs)
            worker = subprocess.run(
                [sys.executable, __file__, f"--worker={report.model_path}", f"--runs={FLAGS.runs}"],
                capture_output=True,
                text=True,
                check=True,
            )
            baseline = json.loads(worker.stdout.strip().splitlines()[-1])["ms"]
            rows.append(
                {
                    "quantize": report.quantize,
                    "size_mb": report.size_bytes / 1e6,
                    "page_ms": page,
                    "onnxruntime_ms": baseline,
                    "runtime": report.runtime_version,
                }
            )
    print(json.dumps(rows, indent=1))
    if FLAGS.markdown:
        print("| file | size | page (onnxruntime-web WASM, 1 thread) | onnxruntime Python, 1 thread | ratio |")
        print("|---|---|---|---|---|")
        for row in rows:
            page, base = np.median(row["page_ms"]), np.median(row["onnxruntime_ms"])
            print(
                f"| {row['quantize']} | {row['size_mb']:.1f} MB | {page:.0f} ms ({min(row['page_ms']):.0f}–"
                f"{max(row['page_ms']):.0f}) | {base:.0f} ms ({min(row['onnxruntime_ms']):.0f}–"
                f"{max(row['onnxruntime_ms']):.0f}) | {page / base:.2f}x |"
            )


if __name__ == "__main__":
    app.run(main)
