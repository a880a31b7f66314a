"""The documentation site: it builds strictly, and every snippet on it runs or says why it cannot.

A fenced `python` or `bash` block runs unless the line right before it is a marker
`<!-- snippet: REASON -->` (a download, a microphone, the reader's own files). A page's Python blocks run
in order in one fresh interpreter, as a reader pasting them one after another would; its shell blocks run
with `bash -e`. Both run in an empty folder holding `speech.wav`, the recording the snippets name.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from keras_panns.testing import SHARED

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MARKER = re.compile(r"^<!-- snippet: (?P<reason>.*?) -->$")
FENCE = re.compile(r"^```(?P<language>\w*)\s*$")
RUNNABLE = {"python", "bash"}
SPEECH = SHARED / "data" / "examples" / "R9_ZSCveAHg_7s.wav"


def _blocks(page):
    """`(line, language, code, reason or None)` of every fenced block of a page."""
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening and opening["language"]:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marker = MARKER.match(lines[i - 1]) if i else None
            reason = marker["reason"].strip() if marker else None
            blocks.append((i + 1, opening["language"], "\n".join(lines[i + 1 : end]), reason))
            i = end
        i += 1
    return blocks


def test_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    zoo = (site / "zoo" / "index.html").read_text(encoding="utf-8")
    for card in sorted((ROOT / "zoo").glob("*.json")):
        file_name = json.loads(card.read_text(encoding="utf-8"))["checkpoint"]["file_name"]
        assert file_name in zoo, f"the generated zoo table lacks {card.name}"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    import keras_panns

    for name in ("Cnn14", "Wavegram_Logmel_Cnn14", "LogMelSpectrogram", "Index", "export_model", "tag_long"):
        assert re.search(rf'id="keras_panns\.[\w.]*\b{name}"', api), f"the API page does not document {name}"
    for name in keras_panns.__all__:
        assert f"<code>{name}</code>" in api, f"the API page's table of top-level names lacks {name}"


def test_every_marker_gives_a_reason_and_precedes_a_block():
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, 1):
            marker = MARKER.match(line)
            if line.startswith("<!-- snippet"):
                assert marker and marker["reason"].strip(), f"{page.name}:{number}: a snippet marker needs a reason"
                assert number < len(lines) and FENCE.match(lines[number]), (
                    f"{page.name}:{number}: a snippet marker must be the line right before a fenced block"
                )


def _runnable(language):
    return [
        (page, line, code)
        for page in PAGES
        for line, block_language, code, reason in _blocks(page)
        if block_language == language and reason is None
    ]


def test_every_block_has_a_known_language():
    for page in PAGES:
        for line, language, _, reason in _blocks(page):
            if reason is None:
                assert language in RUNNABLE | {"text", "json", "csv", "html", "yaml", "toml", "javascript"}, (
                    f"{page.name}:{line}: ```{language} blocks can neither run nor be marked as text"
                )


@pytest.fixture
def reader_folder(tmp_path):
    if not SPEECH.exists():
        pytest.skip(f"{SPEECH} not found")
    shutil.copy(SPEECH, tmp_path / "speech.wav")
    return tmp_path


@pytest.mark.parametrize("page", sorted({page.name for page, _, _ in _runnable("python")}))
def test_python_snippets_run(page, reader_folder):
    blocks = [(line, code) for p, line, code in _runnable("python") if p.name == page]
    program = "\n\n".join(f"# {page}:{line}\n{code}" for line, code in blocks)
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=reader_folder, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{page}'s snippets failed:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("page", sorted({page.name for page, _, _ in _runnable("bash")}))
def test_shell_snippets_run(page, reader_folder):
    bin_dir = os.path.dirname(sys.executable)  # keras-panns is installed beside this interpreter
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    for line, code in [(line, code) for p, line, code in _runnable("bash") if p.name == page]:
        done = subprocess.run(
            ["bash", "-e", "-c", code], cwd=reader_folder, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{page}:{line} failed:\n{done.stderr[-3000:]}"
