"""The error contract of `keras-panns`: every user mistake ends in one line naming the thing, exit 1 or 2.

Each command is driven through the bad inputs a user meets (a missing or unreadable file, a flag value
out of range, a checkpoint that is not one, an output that cannot be written, data that is not data),
in this process through `main`: an exception that escaped would fail the test with its traceback. (A
missing file given to `index` is an error row of the index, exit 1: `tests/test_archive.py` checks it.)
"""

import os

import numpy as np
import pytest
import soundfile

import keras_panns
from keras_panns.cli.main import COMMANDS, main
from keras_panns.testing import golden


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Paths of bad things, and a good preset and clip to go with them."""
    root = tmp_path_factory.mktemp("contract")
    preset = str(keras_panns.save_preset(golden.fixture_model("Cnn6"), root / "cnn6"))
    clip = root / "clip.wav"
    soundfile.write(clip, 0.1 * np.random.RandomState(0).randn(32000 * 2).astype(np.float32), 32000)
    garbage = root / "garbage.wav"
    garbage.write_bytes(b"not audio at all")
    nan = root / "nan.wav"
    soundfile.write(nan, np.full(32000, np.nan, np.float32), 32000, subtype="FLOAT")
    not_a_checkpoint = root / "Cnn6_mAP=0.343.pth"
    not_a_checkpoint.write_bytes(b"PK\x03\x04 broken zip")
    not_a_csv = root / "labels.csv"
    not_a_csv.write_text("no,columns,we,know\n1,2,3,4\n")
    empty_dir = root / "empty"
    empty_dir.mkdir()
    return {
        "preset": preset,
        "clip": str(clip),
        "garbage": str(garbage),
        "nan": str(nan),
        "missing": str(root / "missing.wav"),
        "checkpoint": str(not_a_checkpoint),
        "csv": str(not_a_csv),
        "empty_dir": str(empty_dir),
        "unwritable": "/proc/keras_panns_cannot_write_here/out",
        "root": str(root),
    }


CASES = {
    # command: [(argv after the command, exit status, text the message must hold), ...]
    "tag": [
        (["--checkpoint", "{preset}", "{missing}"], 1, "missing.wav"),
        (["--checkpoint", "{preset}", "{garbage}"], 1, "garbage.wav"),
        (["--checkpoint", "{preset}", "{nan}"], 1, "nan.wav"),
        (["--checkpoint", "{checkpoint}", "{clip}"], 1, "Cnn6_mAP=0.343.pth"),
        (["--model", "cnn99", "{clip}"], 1, "cnn99"),
        (["--checkpoint", "{preset}", "--top_k", "0", "{clip}"], 2, "--top_k"),
        (["--checkpoint", "{preset}", "--format", "xml", "{clip}"], 2, "--format"),
        (["--checkpoint", "{preset}", "--out", "{unwritable}.json", "{clip}"], 1, "keras_panns_cannot_write_here"),
        (["--checkpoint", "{preset}", "{empty_dir}"], 1, "no audio files"),
        (["--checkpoint", "{preset}", "--group", "Vehicel", "{clip}"], 2, "did you mean"),
    ],
    "sed": [
        (["--checkpoint", "{preset}", "{clip}"], 2, "framewise"),
        (["--model", "cnn14_decision_level_max", "--high", "2", "{clip}"], 2, "--high"),
    ],
    "listen": [
        (["--checkpoint", "{preset}", "--input", "{missing}"], 1, "missing.wav"),
    ],
    "embed": [
        (["--checkpoint", "{preset}", "--out", "{root}/e.npy", "{missing}"], 1, "missing.wav"),
        (["--checkpoint", "{preset}", "--out", "{root}/e.npy", "--window", "0", "{clip}"], 2, "--window"),
    ],
    "index": [
        (["--checkpoint", "{preset}", "--out", "{unwritable}", "{clip}"], 1, "keras_panns_cannot_write_here"),
        (["--checkpoint", "{preset}", "--outputs", "colours", "--out", "{root}/j.index", "{clip}"], 2, "colours"),
        (
            ["--operating_points", "{missing}.json", "--outputs", "events", "--out", "{root}/k.index", "{clip}"],
            1,
            "missing.wav.json",
        ),
        (["--operating_points", "{missing}.json", "--out", "{root}/k.index", "{clip}"], 2, "add events to --outputs"),
    ],
    "search": [
        (["{empty_dir}", "--label", "Dog"], 1, "no manifest.json"),
        (["{missing}", "--label", "Dog"], 1, "missing.wav"),
    ],
    "report": [
        (["{empty_dir}", "--out", "{root}/r.html"], 1, "no manifest.json"),
        (["{empty_dir}", "--out", "{root}/r.txt"], 2, "--out must end in .html"),
    ],
    "pack": [
        (["--csv", "{missing}", "--out", "{root}/packed"], 1, "missing.wav"),
        (["--csv", "{csv}", "--out", "{root}/packed"], 1, "labels.csv"),
    ],
    "train": [
        (["--train_dir", "{empty_dir}", "--out", "{root}/run"], 1, "empty"),
    ],
    "evaluate": [
        (["--checkpoint", "{preset}", "--data", "{empty_dir}"], 1, "empty"),
        (["--index", "{empty_dir}"], 1, "no manifest.json"),
        (["--folder", "{empty_dir}"], 2, "--folder needs --labels FILE"),
        (["--folder", "{empty_dir}", "--labels", "{csv}", "--index", "{empty_dir}"], 2, "one of --folder, --index"),
    ],
    "label": [
        (["{empty_dir}", "--import", "{csv}"], 1, "no manifest.json"),
        (["{empty_dir}"], 2, "--import FILE or --export FILE"),
        (["{empty_dir}", "--export", "{root}/labels.txt", "--format", "raven"], 2, "--export writes csv or hoplite"),
    ],
    "review": [
        (["{empty_dir}", "--label", "Dog", "--out", "{root}/review.html"], 1, "no manifest.json"),
        (["{empty_dir}", "--label", "Dog", "--out", "{root}/review.txt"], 2, "--out must end in .html"),
    ],
    "calibrate": [
        (["{empty_dir}", "--out", "{root}/points.json"], 1, "no manifest.json"),
        (["{empty_dir}", "--out", "{root}/points.txt"], 2, "--out must end in .json"),
    ],
    "classify": [
        (["train", "{empty_dir}", "--labels", "{csv}", "--out", "{root}/h.head"], 1, "no manifest.json"),
        (["{empty_dir}", "--labels", "{csv}", "--out", "{root}/h.head"], 2, "classify takes train INDEX ... or apply"),
        (["train", "{empty_dir}", "--out", "{root}/h.head"], 1, "no manifest.json"),
        (["train", "{empty_dir}", "--labels", "{csv}"], 2, "--out HEAD must have a value"),
        (["apply", "{empty_dir}"], 2, "--head HEAD must have a value"),
        (["apply", "{empty_dir}", "--head", "{empty_dir}"], 1, "no manifest.json"),
    ],
    "finetune": [
        (["--checkpoint", "{preset}", "--csv", "{missing}", "--out", "{root}/f.keras"], 1, "missing.wav"),
        (["--checkpoint", "{preset}", "--csv", "{csv}", "--out", "{root}/f.keras"], 1, "labels.csv"),
    ],
    "export": [
        (["--checkpoint", "{checkpoint}", "--out", "{root}/m.tflite"], 1, "Cnn6_mAP=0.343.pth"),
        (["--checkpoint", "{preset}", "--quantize", "float8", "--out", "{root}/m.tflite"], 2, "--quantize"),
    ],
    "demo": [
        (["--checkpoint", "{missing}.pth", "--out", "{root}/site"], 1, "missing.wav.pth"),
    ],
    "models": [
        (["extra"], 2, "extra"),
    ],
}


def test_every_command_is_covered():
    assert set(CASES) == set(COMMANDS)


@pytest.mark.parametrize(
    "command,argv,status,needle",
    [(command, argv, status, needle) for command, cases in CASES.items() for argv, status, needle in cases],
    ids=[f"{command}-{i}" for command, cases in CASES.items() for i in range(len(cases))],
)
def test_a_mistake_is_one_line_and_an_exit_status(inputs, capsys, command, argv, status, needle):
    code = main(["keras-panns", command, *(a.format(**inputs) for a in argv)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("WARNING", "I0000", "W0000"))]
    assert code == status, err
    assert "Traceback" not in err
    assert any(needle.format(**inputs) in line and line.startswith(f"keras-panns {command}") for line in lines), err
    assert not os.path.exists(inputs["unwritable"])
