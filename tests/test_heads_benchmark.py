"""tools/benchmark_heads.py at toy size: it builds, reads, applies and trains, and writes what it measured."""

import json
import subprocess
import sys

from keras_panns.testing import REPO


def test_the_heads_benchmark_measures_reading_applying_and_training(tmp_path):
    out = tmp_path / "heads.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "benchmark_heads.py"),
            "--windows=2000",
            "--labelled=200",
            "--dims=32",
            "--part_windows=500",
            "--epochs=2",
            "--folds=2",
            f"--keep={tmp_path / 'work'}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    # 200 labels, some on the same window (a positive of one class, a negative of another)
    assert result["windows"] == 2000 and 150 < result["labelled"] <= 200
    assert result["weak_negatives"] == 2000 - result["labelled"]
    assert result["apply_windows_per_s"] > 0 and result["raw_read_mb_per_s"] > 0
    assert (
        result["peak_rss_mb_after_training"] >= result["peak_rss_mb_after_apply"] >= result["peak_rss_mb_before_apply"]
    )
    assert set(result["held_out_ap"]) == {f"class {c}" for c in range(5)}
    scored = list((tmp_path / "work" / "bench.index" / "heads" / "bench" / "head_scores").glob("part-*.parquet"))
    assert len(scored) == 4  # one part per windows part
    assert "windows/s" in (tmp_path / "heads.md").read_text()
