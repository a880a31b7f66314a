"""The heads guide's worked example: ESC-10's folds 1-4 train a head on an index's embeddings, fold 5 tests it.

Steps, each as a user would take them:

1. `keras-panns index ESC10 --outputs embeddings,scores,tags --window 5 --hop 5` with `--checkpoint`
   a preset of the golden fixture's weights for `--model` (one 5-s window per clip). **These are not the
   pretrained PANNs weights** (none can be downloaded here): the embeddings are those of a Cnn14 with the
   fixture's deterministic random weights, so the figures say how the head and its references compare on
   the same vectors, not how well pretrained PANNs classify ESC-10.
2. Labels of folds 1-4: each clip a positive of its class and a negative of the 9 others, whole-file labels
   (`label --import --own_classes`), the classes named `esc <category>` (`dog` would be AudioSet's `Dog`).
3. `classify train` (linear head, no weak negatives: every window is labelled), then `classify apply`.
4. Fold 5: each class's AP (scikit-learn) of the head's scores, beside scikit-learn's `LogisticRegression`
   (balanced classes, L-BFGS to convergence) fitted on the same fold 1-4 embeddings, as stored (the head
   sees them times one constant, `heads.training.embedding_scale`).

Example:
  python tools/heads_esc10_example.py --out benchmarks/heads_esc10_example.json
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

MODEL = flags.DEFINE_string("model", "Cnn14", "The golden fixture architecture to embed with.")
WORK = flags.DEFINE_string("work", None, "Keep the preset, index and head here (a rerun reuses the index).")
OUT = flags.DEFINE_string("out", None, "Write the results as JSON here (and a Markdown table beside it).")
EPOCHS = flags.DEFINE_integer("epochs", 50, "classify train --epochs (50 is its default).")
LIMIT = flags.DEFINE_integer("limit", 0, "Only this many clips per fold (0: all 400; for a quick check).")


def _cli(*args):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "keras_panns.cli.main", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"keras-panns {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done


def main(argv):
    del argv
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    from keras_panns.search import Index
    from keras_panns.testing import SHARED

    work = WORK.value or tempfile.mkdtemp(prefix="heads-esc10-")
    os.makedirs(work, exist_ok=True)
    meta = pd.read_csv(SHARED / "data" / "esc10" / "esc10.csv")
    if LIMIT.value:
        meta = meta.groupby("fold", group_keys=False).head(LIMIT.value)
    audio = SHARED / "data" / "esc10" / "audio"
    folder = os.path.join(work, "audio")
    if not os.path.isdir(folder):  # the clips chosen, as links: the index covers exactly them
        os.makedirs(folder)
        for name in meta.filename:
            os.symlink(audio / name, os.path.join(folder, name))
    preset = os.path.join(work, f"{MODEL.value}.preset")
    if not os.path.isdir(preset):
        import keras_panns
        from keras_panns.testing import golden

        keras_panns.save_preset(golden.fixture_model(MODEL.value), preset)
    index_path = os.path.join(work, "esc10.index")
    times = {}
    times["index (embeddings, scores, tags)"], _ = _cli(
        "index", folder, "--out", index_path, "--checkpoint", preset, "--outputs", "embeddings,scores,tags",
        "--window", "5", "--hop", "5", "--noprogress",
    )  # fmt: skip
    index = Index(index_path)
    classes = sorted(meta.category.unique())
    named = {c: f"esc {c.replace('_', ' ')}" for c in classes}
    train = meta[meta.fold < 5]
    rows = [
        (os.path.join(folder, r.filename), "", "", named[c], "positive" if c == r.category else "negative")
        for r in train.itertuples()
        for c in classes
    ]
    labels_path = os.path.join(work, "folds1-4.csv")
    pd.DataFrame(rows, columns=["path", "start", "end", "label", "label_type"]).to_csv(labels_path, index=False)
    if not os.path.isdir(os.path.join(index_path, "annotations")):  # a rerun: the labels are in already
        times["label --import --own_classes"], _ = _cli("label", index_path, "--import", labels_path, "--own_classes")
    head = os.path.join(work, "esc10.head")
    times["classify train (5-fold cross-validation, then the final fit)"], trained = _cli(
        "classify", "train", index_path, "--out", head, "--weak_weight", "0", "--epochs", str(EPOCHS.value)
    )
    times["classify apply"], _ = _cli("classify", "apply", index_path, "--head", head, "--replace", "--noprogress")
    index = Index(index_path)
    windows = index.windows
    fold = windows.path.map(lambda p: int(os.path.basename(p).split("-")[0])).to_numpy()
    category = windows.path.map(lambda p: dict(zip(meta.filename, meta.category))[os.path.basename(p)]).to_numpy()
    record = index.heads["esc10"]
    scores = index.head_scores("esc10")
    x = index.embeddings()
    test = fold == 5
    results = []
    for c in classes:
        truth = category[test] == c
        column = record["classes"].index(named[c])
        reference = LogisticRegression(class_weight="balanced", max_iter=2000).fit(x[~test], category[~test] == c)
        results.append(
            {
                "class": named[c],
                "head_ap": round(float(average_precision_score(truth, scores[test, column])), 3),
                "logistic_regression_ap": round(
                    float(average_precision_score(truth, reference.predict_proba(x[test])[:, 1])), 3
                ),
                "cross_validated_ap_folds_1_4": round(record["card"]["classes"][named[c]]["ap"], 3),
            }
        )
    summary = {
        "model": f"{MODEL.value} with the golden fixture's weights (not pretrained)",
        "epochs": EPOCHS.value,
        "clips": {"train (folds 1-4)": int((~test).sum()), "test (fold 5)": int(test.sum())},
        "mean_ap_fold5": {
            "head": round(float(np.mean([r["head_ap"] for r in results])), 3),
            "logistic_regression": round(float(np.mean([r["logistic_regression_ap"] for r in results])), 3),
        },
        "classes": results,
        "seconds": {name: round(value, 1) for name, value in times.items()},
    }
    print(json.dumps(summary, indent=2))
    if OUT.value:
        with open(OUT.value, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
        lines = [
            "| class | head AP, fold 5 | LogisticRegression AP, fold 5 | head AP, cross-validated on folds 1-4 |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['class']} | {r['head_ap']:.3f} | {r['logistic_regression_ap']:.3f} | "
            f"{r['cross_validated_ap_folds_1_4']:.3f} |"
            for r in results
        ]
        mean = summary["mean_ap_fold5"]
        lines.append(f"| **mean** | **{mean['head']:.3f}** | **{mean['logistic_regression']:.3f}** | |")
        lines.append("")
        lines += [f"- {name}: {value} s" for name, value in summary["seconds"].items()]
        with open(os.path.splitext(OUT.value)[0] + ".md", "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app.run(main)
