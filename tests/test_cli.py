"""`keras-panns` on real recordings from ../shared/data/examples."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

import golden
import keras_panns
from keras_panns.checkpoint import port_state_dict
from keras_panns.cli.main import main

EXAMPLES = ("R9_ZSCveAHg_7s.wav", "f62-S-v2swA_200000_210000.wav")


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """Cnn6 with the golden-fixture weights, saved as a preset directory."""
    model = keras_panns.Cnn6()
    port_state_dict(model, golden.fixture_state_dict("Cnn6"))
    return str(keras_panns.save_preset(model, tmp_path_factory.mktemp("preset") / "cnn6"))


@pytest.fixture
def bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 32000)
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(1000, np.float32), 32000)
    return [str(corrupt), str(empty), str(short), str(tmp_path / "missing.wav")]


def test_tag_json_on_real_recordings(shared_data, preset, capsys):
    files = [str(shared_data / "examples" / name) for name in EXAMPLES]
    files.append(str(shared_data / "esc10" / "audio" / sorted(os.listdir(shared_data / "esc10" / "audio"))[0]))
    assert main(["keras-panns", "tag", "--checkpoint", preset, "--format", "json", "--top_k", "3"] + files) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in report["results"]] == files
    model = keras_panns.from_pretrained(preset)
    for record, path in zip(report["results"], files):
        expected = keras_panns.tag(model, path, top_k=3)  # same model through the Python API
        assert [t["label"] for t in record["tags"]] == [label for label, _ in expected]
        np.testing.assert_allclose([t["score"] for t in record["tags"]], [s for _, s in expected], atol=1e-5)


def test_bad_files_are_reported_and_the_rest_tagged(shared_data, preset, bad_files, capsys):
    good = str(shared_data / "examples" / EXAMPLES[0])
    code = main(["keras-panns", "tag", "--checkpoint", preset, "--top_k", "2", good] + bad_files)
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines()[0] == good and len(captured.out.splitlines()) == 3
    assert "cannot read audio" in captured.err and "empty" in captured.err
    assert "at least 4800 samples" in captured.err and "no such file" in captured.err
    assert "4 of 5 files failed" in captured.err


def test_usage_errors(capsys):
    assert main(["keras-panns", "frobnicate"]) == 2
    assert main(["keras-panns", "tag", "--top_k", "0", "x.wav"]) == 2
    assert main(["keras-panns", "tag"]) == 2
    assert main(["keras-panns", "tag", "--help"]) == 0
    assert "--checkpoint" in capsys.readouterr().out


def test_unknown_model_is_a_clean_error(capsys, tmp_path):
    assert main(["keras-panns", "tag", "--model", "cnn15", str(tmp_path / "a.wav")]) == 1
    assert "not in the keras_panns zoo" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_entry_point(shared_data, preset, tmp_path):
    out = tmp_path / "tags.txt"
    result = subprocess.run([sys.executable, "-m", "keras_panns.cli.main", "tag", "--checkpoint", preset,
                             "--output", str(out), str(shared_data / "examples" / EXAMPLES[1])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0].endswith(EXAMPLES[1]) and len(lines) == 6
