"""The code style CI holds: `ruff check` (pyflakes, pycodestyle, import order) and `ruff format --check`.

The configuration is pyproject.toml's `[tool.ruff]`; `.pre-commit-config.yaml` runs the same on commit.
"""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PATHS = ["keras_panns", "tests", "tools", "docs/hooks.py", "conftest.py"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(command):
    pytest.importorskip("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PATHS], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
