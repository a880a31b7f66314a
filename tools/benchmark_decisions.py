"""How long labels, operating points and evaluation take on a large index, and what applying points costs.

Builds an index of `--windows` windows of 527 scores (through `IndexStore`, as the archive job writes it;
scores drawn per class so that labelled positives score higher), labels `--labelled` of them for `--classes`
classes (positives and negatives, half each), then times, each once in this process:
`label --import` of that CSV, `calibrate --target precision=0.9`, `evaluate --index` (1,000 bootstrap
resamples) and `search --label --operating_points`. Then the cost of applying points per clip in `tag`
(`OperatingPoints.decide` and `calibrate` on one 527-score vector, median of 10,000 calls), beside nothing.

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
OUT = flags.DEFINE_string("out", None, "Also write the results as JSON here (and a Markdown table beside it).")


def _build(root, windows, labelled, classes):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_panns.archive.store import IndexStore
    from keras_panns.decisions import labels_sha256
    from keras_panns.labels import audioset_labels

    labels = audioset_labels()
    manifest = {
        "format": "keras-panns-index/1",
        "model": "Cnn14",
        "model_name": "benchmark",
        "weights_sha256": "0" * 64,
        "labels": labels,
        "labels_sha256": labels_sha256(labels),
        "num_classes": 527,
        "embedding_size": 0,
        "outputs": ["scores"],
        "window_seconds": 1.0,
        "hop_seconds": 1.0,
        "runtime": {"runtime": "openvino", "precision": "float32"},
        "sample_rate": 32000,
    }
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
        ]
        with open(os.path.splitext(OUT.value)[0] + ".md", "w", encoding="utf-8") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
