"""How long labels, operating points and evaluation take on a large index, and what applying points costs.

Builds an index of `--windows` windows of 527 scores (through `IndexStore`, as the archive job writes it;
scores drawn per class so that labelled positives score higher), labels `--labelled` of them for `--classes`
classes (positives and negatives, half each), then times, each once in this process:
`label --import` of that CSV, `calibrate --target precision=0.9`, `evaluate --index` (1,000 bootstrap
resamples) and `search --label --operating_points`. Then the cost of applying points per clip in `tag`
(`OperatingPoints.decide` and `calibrate` on one 527-score vector, median of 10,000 calls), beside nothing.

Events: a second index of `--event_clips` 10-s clips with events of `--event_classes` classes (each true
event found with its boundaries a little off, a peak from Beta(5, 2); false alarms from Beta(2, 5)) and
their span labels; times `label --import`, `calibrate` (with the event points) and `evaluate --index
--events` (PSDS 1 and 2, collar and segment F1). Then what per-class event points cost in `sed`: an
`EventDetector` over ten minutes of framewise scores (60,000 frames x 527) with one high and low, and with
the same values given per class.

Example:
  python tools/benchmark_decisions.py --out benchmarks/decisions_epyc_2core.json
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

WINDOWS = flags.DEFINE_integer("windows", 200_000, "Windows in the index.")
LABELLED = flags.DEFINE_integer("labelled", 100_000, "Labelled windows.")
CLASSES = flags.DEFINE_integer("classes", 20, "Classes the labels are spread over.")
EVENT_CLIPS = flags.DEFINE_integer("event_clips", 1000, "10-s clips in the events index.")
EVENT_CLASSES = flags.DEFINE_integer("event_classes", 10, "Classes with events and span labels.")
OUT = flags.DEFINE_string("out", None, "Also write the results as JSON here (and a Markdown table beside it).")


def _manifest(labels, model, outputs, **extra):
    """The manifest of a benchmark index of 1-s windows of `model`'s 527 scores."""
    from keras_panns.decisions import labels_sha256

    return {
        "format": "keras-panns-index/1",
        "model": model,
        "model_name": "benchmark",
        "weights_sha256": "0" * 64,
        "labels": labels,
        "labels_sha256": labels_sha256(labels),
        "num_classes": 527,
        "embedding_size": 0,
        "outputs": outputs,
        "window_seconds": 1.0,
        "hop_seconds": 1.0,
        "runtime": {"runtime": "openvino", "precision": "float32"},
        "sample_rate": 32000,
        **extra,
    }


def _build(root, windows, labelled, classes):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_panns.archive.store import IndexStore
    from keras_panns.labels import audioset_labels

    labels = audioset_labels()
    manifest = _manifest(labels, "Cnn14", ["scores"])
    store = IndexStore(os.path.join(root, "index"))
    store.open(manifest)
    rng = np.random.default_rng(0)
    per_file = 100
    chosen = rng.choice(windows, size=labelled, replace=False)
    truth = rng.random(labelled) < 0.5
    label_class = rng.integers(0, classes, size=labelled)
    is_labelled = np.full(windows, -1)
    is_labelled[chosen] = np.arange(labelled)
    for first in range(0, windows, per_file * 50):
        files, rows = [], []
        for file in range(first // per_file, min(windows, first + per_file * 50) // per_file):
            path = f"/archive/rec{file:06d}.wav"
            files.append(
                dict(
                    path=path,
                    size=1,
                    mtime=1.0,
                    duration=float(per_file),
                    sample_rate=32000,
                    channels=1,
                    windows=per_file,
                    status="ok",
                )
            )
            scores = rng.beta(1, 8, size=(per_file, 527)).astype(np.float32)
            for w in range(per_file):
                row = file * per_file + w
                k = is_labelled[row]
                if k >= 0 and truth[k]:
                    scores[w, label_class[k]] = rng.beta(5, 2)
                rows.append(dict(path=path, window=w, start=float(w), end=w + 1.0, scores=scores[w].tolist()))
        store.commit({"files": files, "windows": rows})
    csv_path = os.path.join(root, "labels.csv")
    with open(csv_path, "w", encoding="utf-8") as f:
        f.write("path,start,end,label,label_type\n")
        for k, row in enumerate(chosen):
            file, w = divmod(int(row), per_file)
            kind = "positive" if truth[k] else "negative"
            f.write(f'/archive/rec{file:06d}.wav,{w + 0.25},{w + 0.75},"{labels[label_class[k]]}",{kind}\n')
    return os.path.join(root, "index"), csv_path, labels[int(label_class[0])]


def _build_events(root, clips, classes):
    """An index of `clips` 10-s clips with events and scores, and a CSV of their span labels."""
    from keras_panns.archive.store import IndexStore
    from keras_panns.labels import audioset_labels

    labels = audioset_labels()
    events = {"high": 0.05, "low": 0.02, "median_window": 1, "min_duration": 0.0}
    manifest = _manifest(labels, "Cnn14_DecisionLevelMax", ["events", "scores"], events=events)
    store = IndexStore(os.path.join(root, "events.index"))
    store.open(manifest)
    rng = np.random.default_rng(0)
    spans = []
    for first in range(0, clips, 100):
        files, windows, events = [], [], []
        for clip in range(first, min(clips, first + 100)):
            path = f"/archive/clip{clip:05d}.wav"
            files.append(dict(path=path, size=1, mtime=1.0, duration=10.0, sample_rate=32000, channels=1,
                              windows=10, status="ok"))  # fmt: skip
            scores = rng.beta(1, 8, size=(10, 527)).astype(np.float32)
            for c in rng.choice(classes, size=rng.integers(1, 4), replace=False):
                onset = rng.uniform(0, 8)
                offset = onset + rng.uniform(0.3, 2.0)
                spans.append((path, onset, offset, labels[c]))
                if rng.random() < 0.85:
                    peak = float(rng.beta(5, 2))
                    found = (max(onset + rng.normal(0, 0.05), 0), offset + rng.normal(0, 0.05))
                    events.append(dict(path=path, label=labels[c], class_index=int(c), onset=found[0],
                                       offset=found[1], score=peak))  # fmt: skip
                    scores[int(onset) : int(offset) + 1, c] = np.maximum(scores[int(onset) : int(offset) + 1, c], peak)
            for c in rng.choice(classes, size=rng.integers(0, 3)):
                onset = rng.uniform(0, 9)
                events.append(dict(path=path, label=labels[c], class_index=int(c), onset=onset,
                                   offset=onset + rng.uniform(0.2, 0.8), score=float(rng.beta(2, 5))))  # fmt: skip
            for w in range(10):
                windows.append(dict(path=path, window=w, start=float(w), end=w + 1.0, scores=scores[w].tolist()))
        store.commit({"files": files, "windows": windows, "events": events})
    csv_path = os.path.join(root, "event_labels.csv")
    with open(csv_path, "w", encoding="utf-8") as f:
        f.write("path,start,end,label,label_type\n")
        for path, onset, offset, label in spans:
            f.write(f'{path},{onset:.3f},{offset:.3f},"{label}",positive\n')
        for clip in range(clips):  # each class's absence, second by second, where it is not: negatives to calibrate
            path = f"/archive/clip{clip:05d}.wav"
            mine = [(a, b, label) for p, a, b, label in spans if p == path]
            for c in range(classes):
                for w in range(0, 10, 3):
                    if not any(label == labels[c] and a < w + 1 and b > w for a, b, label in mine):
                        f.write(f'{path},{w},{w + 1},"{labels[c]}",negative\n')
    return os.path.join(root, "events.index"), csv_path


def _detector_seconds(settings, framewise, rounds=5):
    """Best seconds of an `EventDetector` over `framewise` in 1,000-frame chunks, per setting, the settings
    taking turns (this machine's speed drifts by tens of percent within a minute)."""
    from keras_panns.events import EventDetector

    best = dict.fromkeys(settings, float("inf"))
    for _ in range(rounds):
        for name, (high, low) in settings.items():
            started = time.perf_counter()
            detector = EventDetector(527, high=high, low=low)
            for first in range(0, len(framewise), 1000):
                detector.update(framewise[first : first + 1000])
            detector.finish()
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: round(seconds, 3) for name, seconds in best.items()}


def _timed(argv):
    from keras_panns.cli.main import main

    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            code = main(["keras-panns", *argv])
        finally:
            sys.stdout = stdout
    if code != 0:
        raise SystemExit(f"keras-panns {' '.join(argv)} failed ({code})")
    return round(time.perf_counter() - started, 2)


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        index, labels_csv, some_class = _build(root, WINDOWS.value, LABELLED.value, CLASSES.value)
        build = round(time.perf_counter() - started, 1)
        points = os.path.join(root, "points.json")
        times = {
            "label --import": _timed(["label", index, "--import", labels_csv]),
            "calibrate": _timed(["calibrate", index, "--target", "precision=0.9", "--out", points]),
            "evaluate --index": _timed(["evaluate", "--index", index, "--operating_points", points]),
            "search --label --operating_points": _timed(
                ["search", index, "--label", some_class, "--operating_points", points, "--top", "100"]
            ),
        }
        started = time.perf_counter()
        events_index, events_csv = _build_events(root, EVENT_CLIPS.value, EVENT_CLASSES.value)
        build_events = round(time.perf_counter() - started, 1)
        event_points = os.path.join(root, "event_points.json")
        event_times = {
            "label --import": _timed(["label", events_index, "--import", events_csv]),
            "calibrate (with event points)": _timed(
                ["calibrate", events_index, "--target", "f1", "--out", event_points]
            ),
            "evaluate --index --events": _timed(
                ["evaluate", "--index", events_index, "--events", "--operating_points", event_points]
            ),
        }
        # Ten minutes at 100 frames/s: quiet frames with a few runs per class, as a SED model gives. The same
        # thresholds as one number and as one per class: what the per-class lookup itself costs.
        rng = np.random.default_rng(2)
        framewise = rng.beta(1, 30, size=(60_000, 527)).astype(np.float32)
        for c in range(527):
            for onset in rng.integers(0, 59_000, size=2):
                framewise[onset : onset + rng.integers(50, 500), c] = rng.uniform(0.3, 0.9)
        per_class = np.full(527, 0.5, np.float32), np.full(527, 0.2, np.float32)
        detector = _detector_seconds({"one high and low": (0.5, 0.2), "the same, one per class": per_class}, framewise)

        from keras_panns.decisions import OperatingPoints
        from keras_panns.labels import audioset_labels

        loaded = OperatingPoints.load(points)
        labels = audioset_labels()
        scores = np.random.default_rng(1).random(527).astype(np.float32)
        per_call = []
        for _ in range(10_000):
            t = time.perf_counter()
            loaded.calibrate(scores, labels)[loaded.decide(scores, labels)]
            per_call.append(time.perf_counter() - t)
    result = {
        "cores": os.cpu_count(),
        "windows": WINDOWS.value,
        "labelled": LABELLED.value,
        "classes": CLASSES.value,
        "index_build_s": build,
        "seconds": times,
        "apply_points_per_clip_us": round(float(np.median(per_call)) * 1e6, 1),
        "event_clips": EVENT_CLIPS.value,
        "event_classes": EVENT_CLASSES.value,
        "events_index_build_s": build_events,
        "event_seconds": event_times,
        "event_detector_ten_minutes_s": detector,
    }
    print(json.dumps(result, indent=1))
    if OUT.value:
        with open(OUT.value, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        lines = [
            f"# Labels, operating points and evaluation ({result['cores']} cores)",
            "",
            f"An index of {result['windows']:,} windows x 527 scores; {result['labelled']:,} labelled windows over "
            f"{result['classes']} classes (`tools/benchmark_decisions.py`). Each command once, in-process.",
            "",
            "| command | seconds |",
            "|---|---|",
            *[f"| `keras-panns {name}` | {seconds:.2f} |" for name, seconds in times.items()],
            "",
            f"Applying operating points to one clip's 527 scores in `tag` (decide and calibrate): "
            f"{result['apply_points_per_clip_us']:.0f} µs (median of 10,000), against a forward pass of "
            "hundreds of milliseconds.",
            "",
            f"Events: an index of {result['event_clips']:,} 10-s clips with events of {result['event_classes']} "
            "classes and their span labels.",
            "",
            "| command | seconds |",
            "|---|---|",
            *[f"| `keras-panns {name}` | {seconds:.2f} |" for name, seconds in event_times.items()],
            "",
            "An `EventDetector` over ten minutes of framewise scores (60,000 frames x 527), best of 5 rounds "
            "taking turns: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in detector.items())
            + " (per-class event points in `sed`, `listen` and `index`).",
            "",
        ]
        with open(os.path.splitext(OUT.value)[0] + ".md", "w", encoding="utf-8") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
