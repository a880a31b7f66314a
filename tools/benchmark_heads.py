"""How long a classifier head takes to train on an index's embeddings, and what reading them costs.

Builds an index of `--windows` 1-s windows with `--dims`-d embeddings (through `IndexStore`, as the archive
job writes it, `--part_windows` windows per Parquet part): `--classes` classes whose windows lie near their
own direction, the rest near none. `--labelled` windows are labelled (positives and negatives of each class,
as a label CSV); every other window is a weak negative. Then times, each once in this process:

- reading every embedding part by part (`Index.embedding_parts`), against the file size: the read speed;
- `head_examples` and reading the labelled windows' embeddings;
- `apply_head` with a linear head on those classes (every window scored into the index's own tables,
  part by part), first, so the process's peak memory after it is apply's (`peak_rss_mb`);
- `train_index_head` (its cross-validation over `--folds` file folds, then the final fit), with its
  held-out AP per class.

The read speeds are against the same files read raw (`open().read()`), in the same state of the page
cache (warm: the index was just built or read).

Example:
  python tools/benchmark_heads.py --windows 1000000 --labelled 10000 --out benchmarks/heads_epyc_2core.json
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

WINDOWS = flags.DEFINE_integer("windows", 100_000, "Windows in the index.")
LABELLED = flags.DEFINE_integer("labelled", 10_000, "Labelled windows.")
CLASSES = flags.DEFINE_integer("classes", 5, "The head's classes.")
DIMS = flags.DEFINE_integer("dims", 2048, "Embedding size.")
PART_WINDOWS = flags.DEFINE_integer("part_windows", 20_000, "Windows per Parquet part.")
EPOCHS = flags.DEFINE_integer("epochs", 50, "Passes over the labelled windows.")
FOLDS = flags.DEFINE_integer("folds", 5, "Cross-validation folds.")
KEEP = flags.DEFINE_string("keep", None, "Build the index here and keep it (a rerun reuses it).")
OUT = flags.DEFINE_string("out", None, "Also write the results as JSON here (and a Markdown table beside it).")

WINDOWS_PER_FILE = 100


def _build(root, windows, dims, classes, part_windows):
    """The index, and `{window row as written: class or -1}`."""
    from keras_panns.archive.store import IndexStore
    from keras_panns.decisions import labels_sha256
    from keras_panns.labels import audioset_labels

    labels = audioset_labels()
    manifest = {
        "format": "keras-panns-index/1", "model": "Cnn14", "model_name": "benchmark", "weights_sha256": "0" * 64,
        "labels": labels, "labels_sha256": labels_sha256(labels), "num_classes": 527, "embedding_size": dims,
        "outputs": ["embeddings"], "window_seconds": 1.0, "hop_seconds": 1.0,
        "runtime": {"runtime": "openvino", "precision": "float32"}, "sample_rate": 32000,
    }  # fmt: skip
    store = IndexStore(root)
    store.open(manifest)
    rng = np.random.default_rng(0)
    directions = rng.normal(0, 1, size=(classes, dims)).astype(np.float32)
    truth = np.full(windows, -1, np.int64)
    for first in range(0, windows, part_windows):
        count = min(part_windows, windows - first)
        embedding = rng.normal(0, 1, size=(count, dims)).astype(np.float32)
        which = np.where(rng.random(count) < 0.1, rng.integers(0, classes, count), -1)
        embedding[which >= 0] += 0.15 * directions[which[which >= 0]]
        truth[first : first + count] = which
        rows = first + np.arange(count)
        paths = [f"/archive/f{r // WINDOWS_PER_FILE:06d}.wav" for r in rows]
        files = [
            dict(path=p, size=1, mtime=1.0, duration=float(WINDOWS_PER_FILE), sample_rate=32000, channels=1,
                 windows=WINDOWS_PER_FILE, status="ok")
            for p in sorted(set(paths))
        ]  # fmt: skip
        windows_rows = [
            dict(path=p, window=int(r % WINDOWS_PER_FILE), start=float(r % WINDOWS_PER_FILE),
                 end=float(r % WINDOWS_PER_FILE + 1), embedding=e)
            for p, r, e in zip(paths, rows, embedding)
        ]  # fmt: skip
        store.commit({"files": files, "windows": windows_rows})
    return truth


def _labels(truth, labelled, classes, path):
    """A label CSV: `labelled` windows, each a positive or a negative of one class, half each."""
    rng = np.random.default_rng(1)
    rows = []
    per_class = labelled // classes
    for c in range(classes):
        positives = rng.choice(np.flatnonzero(truth == c), per_class // 2, replace=False)
        negatives = rng.choice(np.flatnonzero(truth != c), per_class - per_class // 2, replace=False)
        rows += [(r, c, "positive") for r in positives] + [(r, c, "negative") for r in negatives]
    with open(path, "w", encoding="utf-8") as f:
        f.write("path,start,end,label,label_type\n")
        for r, c, kind in rows:
            start = r % WINDOWS_PER_FILE
            f.write(f"/archive/f{r // WINDOWS_PER_FILE:06d}.wav,{start},{start + 1},class {c},{kind}\n")


def _raw_read(folder):
    """Seconds to read every file of `folder` raw, in 16 MB blocks."""
    started = time.perf_counter()
    for directory, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(directory, name), "rb") as f:
                while f.read(1 << 24):
                    pass
    return time.perf_counter() - started


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _size(folder):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(folder) for f in names)


def main(argv):
    del argv
    import keras

    from keras_panns.archive.label_files import read_label_file
    from keras_panns.decisions import index_fingerprint
    from keras_panns.heads.apply import apply_head
    from keras_panns.heads.data import head_examples, labelled_embeddings
    from keras_panns.heads.head import HeadCard, index_windows, save_head, train_index_head
    from keras_panns.heads.training import build_head
    from keras_panns.search import Index

    root = KEEP.value or tempfile.mkdtemp(prefix="benchmark-heads-")
    index_path, labels_path = os.path.join(root, "bench.index"), os.path.join(root, "labels.csv")
    started = time.perf_counter()
    if not os.path.exists(os.path.join(index_path, "manifest.json")):
        truth = _build(index_path, WINDOWS.value, DIMS.value, CLASSES.value, PART_WINDOWS.value)
        _labels(truth, LABELLED.value, CLASSES.value, labels_path)
    build = time.perf_counter() - started
    index = Index(index_path)
    times = {}
    raw = _raw_read(os.path.join(index_path, "windows"))
    started = time.perf_counter()
    read = sum(len(block) for _, block in index.embedding_parts())
    times["read every embedding"] = time.perf_counter() - started
    size = _size(os.path.join(index_path, "windows"))
    # An untrained linear head of the benchmark's classes: apply's cost does not depend on the weights.
    untrained = os.path.join(root, "untrained.head")
    classes = {f"class {c}": {"point": None} for c in range(CLASSES.value)}
    keras.utils.set_random_seed(0)
    card = HeadCard(classes=classes, base=index_fingerprint(index.manifest), windows=index_windows(index.manifest),
                    training={})  # fmt: skip
    save_head(build_head(DIMS.value, list(classes)), card, untrained)
    rss_before_apply = _peak_rss_mb()
    started = time.perf_counter()
    report = apply_head(index, untrained, "bench", replace=True)
    times["apply_head (every window scored into the index)"] = time.perf_counter() - started
    rss_after_apply = _peak_rss_mb()
    print(f"apply: {report.summary()}; peak memory {rss_after_apply:,.0f} MB", flush=True)  # before the long step
    labels = read_label_file(labels_path)
    started = time.perf_counter()
    examples = head_examples(index, labels, sorted(set(labels.label)))
    labelled_embeddings(index, examples.rows)
    times["labelled windows and their embeddings"] = time.perf_counter() - started
    started = time.perf_counter()
    card = train_index_head(index, labels, os.path.join(root, "bench.head"), epochs=EPOCHS.value, folds=FOLDS.value)
    times[f"train_index_head ({FOLDS.value}-fold cross-validation and the final fit)"] = time.perf_counter() - started
    result = {
        "windows": read,
        "labelled": int(len(examples.rows)),
        "weak_negatives": card.training["weak_negatives"],
        "dims": DIMS.value,
        "epochs": EPOCHS.value,
        "build_seconds": round(build, 1),
        "embeddings_bytes": size,
        "read_mb_per_s": round(size / 1e6 / times["read every embedding"], 1),
        "raw_read_mb_per_s": round(size / 1e6 / raw, 1),
        "apply_windows_per_s": round(report.scored_windows / times["apply_head (every window scored into the index)"]),
        "peak_rss_mb_before_apply": round(rss_before_apply),
        "peak_rss_mb_after_apply": round(rss_after_apply),
        "peak_rss_mb_after_training": round(_peak_rss_mb()),
        "seconds": {name: round(value, 2) for name, value in times.items()},
        "held_out_ap": {name: round(record["ap"], 3) for name, record in card.classes.items()},
    }
    print(json.dumps(result, indent=2))
    if OUT.value:
        with open(OUT.value, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
        lines = ["| step | seconds |", "|---|---|"] + [f"| {k} | {v} |" for k, v in result["seconds"].items()]
        lines.append(f"\n{read:,} windows of {DIMS.value} floats ({size / 1e9:.2f} GB) read at "
                     f"{result['read_mb_per_s']} MB/s (the same files raw: {result['raw_read_mb_per_s']} MB/s); "
                     f"apply {result['apply_windows_per_s']:,} windows/s; {len(examples.rows):,} labelled; peak "
                     f"memory {result['peak_rss_mb_before_apply']:,} MB before apply, "
                     f"{result['peak_rss_mb_after_apply']:,} after, {result['peak_rss_mb_after_training']:,} after "
                     "training.")  # fmt: skip
        with open(os.path.splitext(OUT.value)[0] + ".md", "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app.run(main)
