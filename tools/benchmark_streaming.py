"""Live-audio cost and latency of `keras_panns.Stream` (what `keras-panns listen` runs).

For each model, in its own process, a synthetic stream (noise bursts and
tones, generated block by block so the input itself takes no memory) is
pushed in 0.1-s blocks as fast as the model allows, and the tool prints:

- real-time factor: compute seconds per second of audio (below 1 keeps up live);
- report delay of event starts (Cnn14_DecisionLevelMax) or of window tags
  (taggers, which report no events), in audio seconds (audio received when
  reported minus the onset, or minus the window's start), and in wall
  seconds when fed live (that delay plus the compute time of the push that
  reported it);
- resident memory (RSS) after the first minute and at the end of the stream,
  and its peak.

Weights are the golden synthetic ones for Cnn14_DecisionLevelMax (so events
happen) and random for the taggers; cost and delay do not depend on them.

Usage:
  python tools/benchmark_streaming.py [--minutes 60] [--window 5 --hop 1] [--markdown]
  python tools/benchmark_streaming.py --model cnn6 --minutes 10      # one model, this process
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", None, "One of mobilenet_v1, cnn6, cnn14_sed (default: all three, one process each).")
flags.DEFINE_float("minutes", 60.0, "Length of the synthetic stream.")
flags.DEFINE_float("window", 5.0, "Window seconds (keras-panns listen's default).")
flags.DEFINE_float("hop", 1.0, "Hop seconds.")
flags.DEFINE_boolean("markdown", False, "Print a Markdown table.")
FLAGS = flags.FLAGS

MODELS = ("mobilenet_v1", "cnn6", "cnn14_sed")
BLOCK_SECONDS = 0.1


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _block(index, rate, rng):
    """0.1 s of audio: noise with a burst every 7 s and a tone every 11 s, so scores change over time."""
    n = int(rate * BLOCK_SECONDS)
    t = (index * n + np.arange(n)) / rate
    x = rng.normal(0, 0.01, n)
    x += (np.sin(2 * np.pi * t / 7.0) > 0.9) * rng.normal(0, 0.3, n)
    x += (np.sin(2 * np.pi * t / 11.0) > 0.8) * 0.3 * np.sin(2 * np.pi * 880 * t)
    return x.astype(np.float32)


def _build(name):
    import keras_panns
    from keras_panns.testing import golden

    if name == "cnn14_sed":
        model = golden.fixture_model("Cnn14_DecisionLevelMax")
        return model
    return {"mobilenet_v1": keras_panns.MobileNetV1, "cnn6": keras_panns.Cnn6}[name]()


def measure(name, minutes, window, hop):
    import keras_panns

    model = _build(name)
    stream = keras_panns.Stream(model, window_seconds=window, hop_seconds=hop, top_k=1, high=0.3, low=0.2)
    rng = np.random.RandomState(0)
    blocks = int(minutes * 60 / BLOCK_SECONDS)
    compute, audio_delays, wall_delays, rss_1min, peak = 0.0, [], [], None, 0.0
    for i in range(blocks):
        block = _block(i, model.sample_rate, rng)
        start = time.perf_counter()
        results = stream.push(block)
        spent = time.perf_counter() - start
        compute += spent
        for r in results:
            if r.kind == "event_start" or (r.kind == "tags" and not stream.detects_events):
                audio_delays.append(r.reported_at - r.onset)
                wall_delays.append(r.reported_at - r.onset + spent)
        if i % 100 == 0:
            peak = max(peak, _rss_mb())
        if rss_1min is None and (i + 1) * BLOCK_SECONDS >= 60:
            rss_1min = _rss_mb()
    stream.close()
    end_rss = _rss_mb()
    delays = np.asarray(audio_delays) if audio_delays else np.zeros(1)
    walls = np.asarray(wall_delays) if wall_delays else np.zeros(1)
    return {
        "model": name,
        "minutes": minutes,
        "window": window,
        "hop": hop,
        "reports": "event starts" if stream.detects_events else "window tags",
        "reported": len(audio_delays),
        "rtf": compute / (minutes * 60),
        "delay_audio_median": float(np.median(delays)),
        "delay_audio_max": float(delays.max()),
        "delay_wall_median": float(np.median(walls)),
        "delay_wall_max": float(walls.max()),
        "rss_1min_mb": rss_1min,
        "rss_end_mb": end_rss,
        "rss_peak_mb": max(peak, end_rss),
    }


def main(argv):
    del argv
    if FLAGS.model:
        print("RESULT " + json.dumps(measure(FLAGS.model, FLAGS.minutes, FLAGS.window, FLAGS.hop)))
        return
    rows = []
    for name in MODELS:
        command = [
            sys.executable,
            __file__,
            "--model",
            name,
            "--minutes",
            str(FLAGS.minutes),
            "--window",
            str(FLAGS.window),
            "--hop",
            str(FLAGS.hop),
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]))
        print(f"{name}: {rows[-1]}", file=sys.stderr)
    head = (
        "model",
        "reports",
        "real-time factor",
        "delay (audio s, median / max)",
        "delay (wall s, median / max)",
        "RSS after 1 min / end / peak (MB)",
    )
    lines = [
        (
            r["model"],
            f"{r['reports']} ({r['reported']})",
            f"{r['rtf']:.3f}",
            f"{r['delay_audio_median']:.2f} / {r['delay_audio_max']:.2f}",
            f"{r['delay_wall_median']:.2f} / {r['delay_wall_max']:.2f}",
            f"{r['rss_1min_mb']:.0f} / {r['rss_end_mb']:.0f} / {r['rss_peak_mb']:.0f}",
        )
        for r in rows
    ]
    print(
        f"{FLAGS.minutes:g}-minute stream, {FLAGS.window:g}-s windows every {FLAGS.hop:g} s, 0.1-s pushes, "
        f"{os.cpu_count()} cores"
    )
    if FLAGS.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        for line in [head] + lines:
            print("  ".join(f"{c:<24}" for c in line))


if __name__ == "__main__":
    app.run(main)
