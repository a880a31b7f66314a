"""tools/gpu_check.py --smoke: the GPU check's own code, at toy sizes on the CPU."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

TOOL = pathlib.Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_smoke_writes_every_figure(tmp_path):
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    pytest.importorskip("panns_inference")
    done = subprocess.run(
        [sys.executable, str(TOOL), "--smoke", "--notorch_compile", f"--out_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (report_path,) = tmp_path.glob("gpu_check_smoke_*.json")
    report = json.loads(report_path.read_text())
    assert report["smoke"] and report["matmul"]["tflops"] > 0
    for name in ("keras TF+XLA bf16", "keras JAX bf16", "PyTorch reference"):
        (row,) = report["training"][name].values()
        assert row["clips_per_s"] > 0 and row["peak_memory_gb"] > 0, (name, row)
    assert report["training"]["PyTorch reference"]["2"]["mode"] == "eager"
    for row in report["inference"].values():
        assert row["clips_per_s"] > 0, row
    rates = report["pipeline"]["clips_read_per_s"]
    assert set(rates) == {"balanced", "balanced+feature mixup"} and min(rates.values()) > 0
    table = report_path.with_suffix(".md").read_text()
    assert "| keras JAX bf16 | 2 |" in table and "MFU" in table and "clips read/s" in table
