"""`keras-panns` on real recordings from ../shared/data/examples."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile

import keras_panns
from keras_panns.cli.main import main
from keras_panns.testing import golden

EXAMPLES = ("R9_ZSCveAHg_7s.wav", "f62-S-v2swA_200000_210000.wav")


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """Cnn6 with the golden-fixture weights, saved as a preset directory."""
    model = golden.fixture_model("Cnn6")
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
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_panns.cli.main",
            "tag",
            "--checkpoint",
            preset,
            "--out",
            str(out),
            str(shared_data / "examples" / EXAMPLES[1]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0].endswith(EXAMPLES[1]) and len(lines) == 6


@pytest.fixture(scope="module")
def sed_preset(tmp_path_factory):
    """Cnn14_DecisionLevelMax with the golden-fixture weights, as a preset directory."""
    model = golden.fixture_model("Cnn14_DecisionLevelMax")
    return str(keras_panns.save_preset(model, tmp_path_factory.mktemp("preset") / "sed"))


def test_sed_writes_the_events_of_the_python_api_and_a_plot(shared_data, sed_preset, tmp_path, capsys):
    wav = str(shared_data / "examples" / EXAMPLES[1])
    out, plot = tmp_path / "events.csv", tmp_path / "sed.png"
    args = ["--checkpoint", sed_preset, "--window", "4", "--hop", "3", "--high", "0.3", "--low", "0.2", "--median", "5"]
    assert main(["keras-panns", "sed", *args, "--out", str(out), "--plot", str(plot), wav]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    model = keras_panns.from_pretrained(sed_preset)
    framewise = keras_panns.sed_long(model, wav, window_seconds=4, hop_seconds=3)
    expected = keras_panns.detect_events(framewise, labels=model.labels, high=0.3, low=0.2, median_window=5)
    assert len(expected) > 0
    assert [(r["file"], r["label"], float(r["onset"]), float(r["offset"])) for r in rows] == [
        (wav, e.label, round(e.onset, 3), round(e.offset, 3)) for e in expected
    ]
    image = plt_image(plot)
    assert image.shape[0] > 400 and image.shape[1] > 1000 and image[..., :3].std() > 0.05
    assert main(["keras-panns", "sed", *args, wav]) == 0  # a table on stdout
    assert f", {len(expected)} events)" in capsys.readouterr().out


def test_sed_detects_each_class_at_its_operating_point(shared_data, sed_preset, tmp_path, capsys):
    from keras_panns.decisions import OperatingPoints
    from keras_panns.runtimes.fingerprint import model_fingerprint

    wav = str(shared_data / "examples" / EXAMPLES[1])
    model = keras_panns.from_pretrained(sed_preset)
    framewise = keras_panns.sed_long(model, wav, window_seconds=4, hop_seconds=3)
    everything = keras_panns.detect_events(framewise, labels=model.labels, high=0.3, low=0.2)
    # The class whose events peak lowest gets a high above its peak: its events go, the rest stay.
    silenced = min(everything, key=lambda e: e.score).label
    peak = max(e.score for e in everything if e.label == silenced)
    assert peak < 0.99
    point = {"threshold": 0.5, "events": {"high": peak + 0.005, "low": 0.2}}
    points = OperatingPoints(model=model_fingerprint(model), target="f1", classes={silenced: point})
    points.save(tmp_path / "points.json")
    args = ["--checkpoint", sed_preset, "--window", "4", "--hop", "3", "--high", "0.3", "--low", "0.2"]
    out = tmp_path / "events.csv"
    assert (
        main(["keras-panns", "sed", *args, "--operating_points", str(tmp_path / "points.json"), "--out", str(out), wav])
        == 0
    )
    with open(out) as f:
        labels = [row["label"] for row in csv.DictReader(f)]
    assert labels == [e.label for e in everything if e.label != silenced] and len(labels) < len(everything)
    other = OperatingPoints(model={**points.model, "weights_sha256": "0" * 64}, target="f1", classes={silenced: point})
    other.save(tmp_path / "other.json")
    assert main(["keras-panns", "sed", *args, "--operating_points", str(tmp_path / "other.json"), wav]) != 0
    assert "chosen for another model: weights_sha256" in capsys.readouterr().err


def plt_image(path):
    import matplotlib.image

    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


def test_sed_rejects_tagging_models_and_bad_flags(preset, tmp_path, capsys):
    assert main(["keras-panns", "sed", "--checkpoint", preset, "x.wav"]) == 2
    assert "without framewise output" in capsys.readouterr().err
    assert main(["keras-panns", "sed", "--out", "events.txt", "x.wav"]) == 2
    assert main(["keras-panns", "sed", "--high", "0.1", "--low", "0.3", "x.wav"]) == 2


def test_embed_per_file_and_per_window(shared_data, preset, tmp_path, bad_files, capsys):
    files = [str(shared_data / "examples" / name) for name in EXAMPLES]  # 7 s and 10 s
    out = str(tmp_path / "emb.npy")
    assert main(["keras-panns", "embed", "--checkpoint", preset, "--out", out, *files]) == 0
    vectors = np.load(out)
    model = keras_panns.from_pretrained(preset)
    assert vectors.shape == (2, model.config["embedding_size"])
    for row, path in zip(vectors, files):  # one window each: exactly the clip embedding
        waveform = keras_panns.load_audio(path, model.sample_rate)
        np.testing.assert_allclose(row, model.predict_on_batch(waveform[None])["embedding"][0], atol=1e-5)
    with open(out + ".csv") as f:
        assert [r["file"] for r in csv.DictReader(f)] == files

    out = str(tmp_path / "windows.npy")
    code = main(
        [
            "keras-panns",
            "embed",
            "--checkpoint",
            preset,
            "--per_window",
            "--window",
            "4",
            "--hop",
            "3",
            "--out",
            out,
            *files,
            *bad_files,
        ]
    )
    assert code == 1 and "4 of 6 files failed" in capsys.readouterr().err
    with open(out + ".csv") as f:
        index = list(csv.DictReader(f))
    # 7 s: windows at 0, 3 and the end-aligned 3; 10 s: 0, 3, 6.
    assert [(r["file"], float(r["start"])) for r in index] == [
        (files[0], 0.0),
        (files[0], 3.0),
        (files[1], 0.0),
        (files[1], 3.0),
        (files[1], 6.0),
    ]
    assert np.load(out).shape == (5, model.config["embedding_size"])


def test_export_writes_a_validated_file(preset, tmp_path, capsys):
    out = str(tmp_path / "cnn6.tflite")
    assert main(["keras-panns", "export", "--checkpoint", preset, "--length", "2", "--out", out]) == 0
    report = capsys.readouterr().out
    assert "tflite (none, fft front end, TFLite Model Metadata)" in report
    assert "waveform (None, 64000) at 32000 Hz" in report
    assert os.path.getsize(out) > 1e6 and os.path.exists(out + ".json")
    mediapipe = str(tmp_path / "cnn6_mediapipe.tflite")
    assert (
        main(
            [
                "keras-panns",
                "export",
                "--checkpoint",
                preset,
                "--length",
                "2",
                "--mediapipe",
                "--threads",
                "1",
                "--front_end",
                "conv",
                "--out",
                mediapipe,
            ]
        )
        == 0
    )
    assert "conv front end" in capsys.readouterr().out
    assert (
        main(
            ["keras-panns", "export", "--checkpoint", preset, "--length", "dynamic", "--mediapipe", "--out", mediapipe]
        )
        == 1
    )
    assert "needs a fixed length" in capsys.readouterr().err
    assert main(["keras-panns", "export", "--checkpoint", preset, "--length", "soon", "--out", out]) == 2
    assert main(["keras-panns", "export", "--checkpoint", preset, "--quantize", "int8", "--out", out]) == 1
    assert "calibration audio" in capsys.readouterr().err


def test_finetune_cross_validates_on_esc10(shared_data, preset, tmp_path, capsys):
    rows = list(csv.DictReader(open(shared_data / "esc10" / "esc10.csv")))
    chosen = [r for r in rows if r["category"] in ("dog", "rooster")][:30]
    listing = tmp_path / "subset.csv"
    with open(listing, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(chosen[0]))
        writer.writeheader()
        writer.writerows(chosen)
    out = str(tmp_path / "clf.keras")
    code = main(
        [
            "keras-panns",
            "finetune",
            "--checkpoint",
            preset,
            "--csv",
            str(listing),
            "--audio_dir",
            str(shared_data / "esc10" / "audio"),
            "--path_column",
            "filename",
            "--label_column",
            "category",
            "--fold_column",
            "fold",
            "--clip_seconds",
            "2",
            "--epochs",
            "5",
            "--out",
            out,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    folds = [line for line in printed.splitlines() if line.startswith("fold ")]
    assert len(folds) == len({r["fold"] for r in chosen})
    assert "mean accuracy over" in printed and "embeddings" in printed
    import keras

    model = keras.saving.load_model(out)
    waveform = keras_panns.load_audio(shared_data / "esc10" / "audio" / chosen[0]["filename"], 32000)[None, :64000]
    assert model.predict(waveform, verbose=0).shape == (1, 2)


def test_finetune_from_scratch_with_a_model_config(shared_data, tmp_path, capsys):
    rows = list(csv.DictReader(open(shared_data / "esc10" / "esc10.csv")))
    chosen = [
        r
        for fold in ("1", "2")
        for r in [r for r in rows if r["category"] in ("dog", "rooster") and r["fold"] == fold][:8]
    ]
    listing = tmp_path / "subset.csv"
    with open(listing, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(chosen[0]))
        writer.writeheader()
        writer.writerows(chosen)
    common = [
        "keras-panns",
        "finetune",
        "--from_scratch",
        "--model",
        "Cnn6",
        "--csv",
        str(listing),
        "--audio_dir",
        str(shared_data / "esc10" / "audio"),
        "--path_column",
        "filename",
        "--label_column",
        "category",
        "--fold_column",
        "fold",
        "--clip_seconds",
        "1",
        "--epochs",
        "1",
        "--batch_size",
        "8",
    ]
    tiny = "sample_rate=8000,window_size=256,hop_size=80,fmax=4000,mel_bins=32,embedding_size=16,spec_augment=False"
    assert main(common + ["--model_config", tiny]) == 0
    printed = capsys.readouterr().out
    assert "mean accuracy over 2 folds" in printed and "(full," in printed and "folds in" in printed
    assert main(common + ["--model_config", "mel_bin=32"]) == 2  # a usage error
    assert "mel_bin" in capsys.readouterr().err


def test_a_directory_argument_means_its_audio_files(shared_data, preset, tmp_path, capsys):
    nested = tmp_path / "clips" / "more"
    nested.mkdir(parents=True)
    for name, target in ((EXAMPLES[0], tmp_path / "clips"), (EXAMPLES[1], nested)):
        (target / name).symlink_to(shared_data / "examples" / name)
    (tmp_path / "clips" / "readme.txt").write_text("not audio")
    out = tmp_path / "tags.json"
    assert (
        main(
            [
                "keras-panns",
                "tag",
                "--checkpoint",
                preset,
                "--format",
                "json",
                "--out",
                str(out),
                str(tmp_path / "clips"),
            ]
        )
        == 0
    )
    assert [r["file"] for r in json.loads(out.read_text())["results"]] == [str(tmp_path / "clips" / EXAMPLES[0])]
    assert (
        main(
            [
                "keras-panns",
                "tag",
                "--checkpoint",
                preset,
                "--recursive",
                "--format",
                "json",
                "--out",
                str(out),
                str(tmp_path / "clips"),
            ]
        )
        == 0
    )
    assert len(json.loads(out.read_text())["results"]) == 2
    assert main(["keras-panns", "tag", "--checkpoint", preset, str(nested.parent.parent / "none")]) == 1
    assert main(["keras-panns", "tag", "--checkpoint", preset, str(tmp_path)]) == 1
    assert "no audio files in this directory (--recursive looks in subdirectories)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["embed", "x.wav"], "--out must have a value"),
        (["embed", "--out", "e.csv", "x.wav"], "--out must end in .npy"),
        (["export", "--format", "onnx", "--out", "m.tflite"], ".onnx for --format onnx"),
        (["export", "--length", "soon", "--out", "m.tflite"], "--length must be seconds"),
        (["pack", "--csv", "a.csv", "--segments", "b.csv", "--out", "o"], "either --segments"),
        (["pack", "--segments", "b.csv", "--out", "o"], "--segments needs --audio_dir"),
        (["train", "--train_dir", "d"], "--out must have a value"),
        (["evaluate", "--model", "cnn6", "extra"], "--data must have a value"),
        (["finetune", "--out", "x.h5", "--csv", "a.csv"], "--out must end in .keras"),
        (["sed", "--high", "0.1", "--low", "0.3", "x.wav"], "--low must not exceed --high"),
    ],
)
def test_usage_errors_name_the_flag(argv, message, capsys):
    assert main(["keras-panns", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and f"keras-panns {argv[0]} --help" in err


def test_a_closed_output_pipe_is_a_clean_exit(monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["keras-panns", "models"]) == 1
    assert "the output pipe was closed" in capsys.readouterr().err


def test_group_keeps_only_that_part_of_the_ontology(shared_data, preset, sed_preset, tmp_path, capsys):
    from keras_panns.labels import descendants, group_indices

    wav = str(shared_data / "examples" / EXAMPLES[0])
    assert (
        main(
            [
                "keras-panns",
                "tag",
                "--checkpoint",
                preset,
                "--group",
                "Vehicle",
                "--group",
                "Music",
                "--group_scores",
                "--format",
                "json",
                "--top_k",
                "4",
                wav,
            ]
        )
        == 0
    )
    [record] = json.loads(capsys.readouterr().out)["results"]
    allowed = set(descendants("Vehicle")) | set(descendants("Music"))
    assert len(record["tags"]) == 4 and all(t["label"] in allowed for t in record["tags"])
    scores = keras_panns.iter_tags(keras_panns.from_pretrained(preset), [wav]).__next__().scores
    assert record["groups"]["Vehicle"] == pytest.approx(float(scores[group_indices("Vehicle")].max()), abs=1e-5)
    out = tmp_path / "events.json"
    args = ["--checkpoint", sed_preset, "--window", "4", "--hop", "3", "--high", "0.3", "--low", "0.2", wav]
    assert main(["keras-panns", "sed", "--out", str(out), *args]) == 0
    everything = json.loads(out.read_text())
    assert main(["keras-panns", "sed", "--group", "Music", "--out", str(out), *args]) == 0
    music = json.loads(out.read_text())
    assert music == [e for e in everything if e["label"] in set(descendants("Music"))]
    assert main(["keras-panns", "tag", "--checkpoint", preset, "--group", "Vehicel", wav]) == 2
    assert "did you mean 'Vehicle'" in capsys.readouterr().err


LIVE = ["--window", "4", "--hop", "1.5", "--high", "0.3", "--low", "0.2", "--median", "5"]


def _jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_listen_to_a_file_reports_what_sed_finds(shared_data, sed_preset, tmp_path, capsys):
    wav = str(shared_data / "examples" / EXAMPLES[1])
    assert (
        main(
            [
                "keras-panns",
                "listen",
                "--checkpoint",
                sed_preset,
                "--input",
                wav,
                "--format",
                "jsonl",
                "--top_k",
                "2",
                *LIVE,
            ]
        )
        == 0
    )
    results = _jsonl(capsys.readouterr().out)
    assert {r["kind"] for r in results} == {"tags", "event_start", "event_end"}
    assert all(set(r) == {"kind", "label", "index", "onset", "offset", "score", "reported_at"} for r in results)
    out = tmp_path / "events.json"
    assert main(["keras-panns", "sed", "--checkpoint", sed_preset, "--out", str(out), *LIVE, wav]) == 0
    offline = [(e["label"], e["onset"], e["offset"]) for e in json.loads(out.read_text())]
    live = sorted(
        ((r["label"], r["onset"], r["offset"]) for r in results if r["kind"] == "event_end"), key=lambda e: (e[1], e[0])
    )
    assert live == offline
    assert all(r["offset"] is None for r in results if r["kind"] == "event_start")


@pytest.mark.slow
def test_listen_to_raw_pcm_on_stdin(shared_data, sed_preset, tmp_path):
    pcm, rate = soundfile.read(shared_data / "examples" / EXAMPLES[1], dtype="int16")
    command = [
        sys.executable,
        "-m",
        "keras_panns.cli.main",
        "listen",
        "--checkpoint",
        sed_preset,
        "--input",
        "-",
        "--sample_rate",
        str(rate),
        "--format",
        "jsonl",
        "--top_k",
        "0",
        *LIVE,
    ]
    result = subprocess.run(command, input=pcm.tobytes(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    events = _jsonl(result.stdout.decode())
    assert events and {r["kind"] for r in events} == {"event_start", "event_end"}
    # Float samples with a NaN in the middle: a clear error, and the events open by then are still reported.
    floats = (pcm / 32768.0).astype("<f4")
    floats[len(floats) // 2] = np.nan
    bad = subprocess.run(
        command[: -len(LIVE)] + ["--dtype", "f32", *LIVE], input=floats.tobytes(), capture_output=True, timeout=300
    )
    assert bad.returncode == 1 and b"NaN" in bad.stderr
    reported = _jsonl(bad.stdout.decode())
    opened = {(r["index"], r["onset"]) for r in reported if r["kind"] == "event_start"}
    assert opened and opened <= {(r["index"], r["onset"]) for r in reported if r["kind"] == "event_end"}


def test_listen_usage_and_missing_microphone(sed_preset, capsys):
    assert main(["keras-panns", "listen", "--input", "-"]) == 2
    assert "needs --sample_rate" in capsys.readouterr().err
    assert main(["keras-panns", "listen", "--realtime"]) == 2
    assert main(["keras-panns", "listen", "--checkpoint", sed_preset, "--device", "no-such-microphone"]) == 1
    assert "microphone" in capsys.readouterr().err


@pytest.mark.slow
def test_listen_flushes_open_events_on_ctrl_c(shared_data, sed_preset, tmp_path):
    import signal
    import time

    pcm, rate = soundfile.read(shared_data / "examples" / EXAMPLES[1], dtype="int16")
    out = tmp_path / "live.jsonl"
    with open(out, "wb") as sink:  # a file, not a pipe: a full stdout pipe would stop the child reading stdin
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keras_panns.cli.main",
                "listen",
                "--checkpoint",
                sed_preset,
                "--input",
                "-",
                "--sample_rate",
                str(rate),
                "--format",
                "jsonl",
                "--top_k",
                "1",
                *LIVE,
            ],
            stdin=subprocess.PIPE,
            stdout=sink,
            stderr=subprocess.PIPE,
        )
        process.stdin.write(pcm.tobytes())  # the pipe stays open: the stream has no end until Ctrl-C
        process.stdin.flush()
        deadline = time.time() + 240
        while time.time() < deadline and b'"event_start"' not in out.read_bytes():
            time.sleep(0.5)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    results = _jsonl(out.read_text())
    opened = {(r["index"], r["onset"]) for r in results if r["kind"] == "event_start"}
    assert opened and opened <= {(r["index"], r["onset"]) for r in results if r["kind"] == "event_end"}


def test_listen_reports_a_microphone_that_vanishes(sed_preset, monkeypatch, capsys):
    import types

    class VanishingInput:
        reads = 0

        def __init__(self, samplerate, channels, dtype, device, blocksize):
            self.rate = samplerate

        def start(self):
            pass

        def read(self, frames):
            VanishingInput.reads += 1
            if VanishingInput.reads > 80:  # 8 s of audio, then the device is unplugged
                raise OSError("Error querying device -1 [PaErrorCode -9988]")
            t = np.arange(frames) / self.rate
            return (0.3 * np.sin(2 * np.pi * 440 * t))[:, None].astype("float32"), False

        def close(self):
            raise OSError("device unavailable")

    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(InputStream=VanishingInput))
    assert main(["keras-panns", "listen", "--checkpoint", sed_preset, "--format", "jsonl", *LIVE]) == 1
    captured = capsys.readouterr()
    assert "the microphone stopped delivering audio" in captured.err
    results = _jsonl(captured.out)
    assert any(r["kind"] == "tags" for r in results)
    opened = {(r["index"], r["onset"]) for r in results if r["kind"] == "event_start"}
    assert opened <= {(r["index"], r["onset"]) for r in results if r["kind"] == "event_end"}


def test_an_interrupted_tag_leaves_no_partial_out(shared_data, preset, tmp_path, monkeypatch):
    import keras_panns.inference

    def interrupted(*args, **kwargs):
        yield keras_panns.inference.TagResult(str(tmp_path / "x.wav"), error="unreadable")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras_panns.inference, "iter_tags", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(
            [
                "keras-panns",
                "tag",
                "--checkpoint",
                preset,
                "--out",
                str(tmp_path / "tags.txt"),
                str(shared_data / "examples" / EXAMPLES[0]),
            ]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_tag_command_says_what_auto_picked(tmp_path):
    # OpenVINO converts the TensorFlow forward; auto measures it beside Keras on this CPU.
    pytest.importorskip("openvino")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("OpenVINO converts the TensorFlow forward")
    from keras_panns.testing import SHARED

    cnn6 = golden.spread_scores(golden.fixture_model("Cnn6"))
    model_file = tmp_path / "cnn6.keras"
    cnn6.save(model_file)
    env = dict(os.environ, KERAS_PANNS_RUNTIME="auto", KERAS_PANNS_CACHE=str(tmp_path / "cache"))
    wav = str(SHARED / "data" / "examples" / "R9_ZSCveAHg_7s.wav")
    result = subprocess.run(
        [sys.executable, "-m", "keras_panns.cli.main", "tag", "--checkpoint", str(model_file), "--verbose", wav],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fastest agreeing path measured on this CPU" in result.stderr
    assert "keras     float32" in result.stderr and "openvino  float32" in result.stderr
    assert wav in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["models"],
        ["search", "{index}", "--label", "Dog"],
        ["search", "{index}", "--group", "Animal"],
        ["report", "{index}", "--out", "{tmp}/report.html"],
        ["label", "{index}", "--export", "{tmp}/labels.csv"],
    ],
)
def test_commands_that_need_no_model_import_no_ml_framework(args, tmp_path):
    index = str(pathlib.Path(__file__).parent / "data" / "index_v1")
    args = [a.format(index=index, tmp=tmp_path) for a in args]
    code = (
        "import sys\n"
        "from keras_panns.cli.main import main\n"
        f"code = main(['keras-panns'] + {args!r})\n"
        "heavy = ('tensorflow', 'keras', 'jax', 'torch', 'openvino', 'ray')\n"
        "print('IMPORTED', [m for m in heavy if m in sys.modules])\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "IMPORTED []" in result.stdout
    if args == ["models"]:
        assert "cnn14 " in result.stdout and "not yet" not in result.stdout  # every card's architecture is built


def test_tag_runs_a_cached_compiled_model_without_tensorflow(shared_data, tmp_path):
    pytest.importorskip("openvino")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("OpenVINO converts the TensorFlow forward")
    preset = keras_panns.save_preset(golden.spread_scores(golden.fixture_model("MobileNetV1")), tmp_path / "mnv1")
    wav = str(shared_data / "examples" / EXAMPLES[0])
    code = (
        "import sys\n"
        "from keras_panns.cli.main import main\n"
        f"code = main(['keras-panns', 'tag', '--runtime', 'openvino', '--checkpoint', {str(preset)!r}, "
        f"'--format', 'json', {wav!r}])\n"
        "heavy = ('tensorflow', 'keras', 'jax', 'torch')\n"
        "print('IMPORTED', [m for m in heavy if m in sys.modules], file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, KERAS_PANNS_CACHE=str(tmp_path / "cache"))
    command = [sys.executable, "-c", code]
    # Two processes building the same compiled model and entry at once: both answer, with the same scores.
    racing = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)]
    racing.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    built = [process.communicate(timeout=600) for process in racing]
    assert [process.returncode for process in racing] == [0, 0], [err[-2000:] for _, err in built]
    first = json.loads(built[0][0])["results"][0]["tags"]
    assert json.loads(built[1][0])["results"][0]["tags"] == first
    # Then the command answers from the compiled file alone.
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "IMPORTED []" in again.stderr
    assert json.loads(again.stdout)["results"][0]["tags"] == first
    # embed starts from the same compiled file, and gives Keras' embedding.
    out = tmp_path / "embedding.npy"
    embed = command[:2] + [
        command[2].replace("'tag'", f"'embed', '--out', {str(out)!r}").replace(", '--format', 'json'", "")
    ]
    embedded = subprocess.run(embed, capture_output=True, text=True, env=env, timeout=300)
    assert embedded.returncode == 0, embedded.stderr[-2000:]
    assert "IMPORTED []" in embedded.stderr
    model = keras_panns.from_pretrained(str(preset))
    from keras_panns.long_audio import embed_long

    want = embed_long(model, wav)[1].mean(axis=0)
    got = np.load(out)[0]
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


def test_processes_compiling_the_same_model_at_once_share_one_blob(shared_data, tmp_path):
    pytest.importorskip("openvino")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("OpenVINO converts the TensorFlow forward")
    import time

    import filelock

    from keras_panns.audio import load_audio
    from keras_panns.runtimes import get_runner

    cnn6 = golden.spread_scores(golden.fixture_model("Cnn6"))
    recordings = [load_audio(str(shared_data / "examples" / EXAMPLES[0]), 32000)]
    built = get_runner(cnn6, "openvino", "float32", cache_dir=tmp_path)
    clip = tmp_path / "clip.npy"
    np.save(clip, recordings[0][None])
    want = cnn6.predict_on_batch(recordings[0][None])["clipwise_output"]
    child = (
        "import sys, numpy as np\n"
        "from keras_panns.runtimes.openvino_runner import OpenVINORunner\n"
        "class Model:\n"
        "    def check_input_length(self, n): pass\n"
        f"run = OpenVINORunner(Model(), 'float32', {str(tmp_path)!r}, ir_path={built.path!r})\n"
        "print('ready', file=sys.stderr, flush=True)\n"
        f"np.save(sys.argv[1], run(np.load({str(clip)!r}))['clipwise_output'])\n"
    )
    blobs = tmp_path / "openvino" / "compiled"
    blobs.mkdir(parents=True, exist_ok=True)
    before = set(blobs.glob("*.blob"))
    # Unlocked, three processes compiling one model into one blob cache crash (SIGBUS on a torn blob) or fail
    # ("cannot set permissions: No such file or directory [...blob]") in about one round in four here.
    with filelock.FileLock(str(blobs / ".lock")):
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", child, str(tmp_path / f"{i}.npy")], stderr=subprocess.PIPE, text=True
            )
            for i in range(3)
        ]
        for process in processes:
            assert process.stderr.readline().strip() == "ready"
        for _ in range(8):
            assert all(process.poll() is None for process in processes)  # each waits for the lock
            assert set(blobs.glob("*.blob")) == before
            time.sleep(0.25)
    for i, process in enumerate(processes):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        np.testing.assert_allclose(np.load(tmp_path / f"{i}.npy"), want, atol=1e-4)
    assert len(set(blobs.glob("*.blob")) - before) == 1


def test_a_warning_is_one_line(monkeypatch, capsys):
    import warnings

    import keras_panns.cli.models as models_command

    listing = models_command.run

    def warns_then_lists(args, fv):
        warnings.warn("the card has no md5: provenance is not claimed", stacklevel=1)
        return listing(args, fv)

    monkeypatch.setattr(models_command, "run", warns_then_lists)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["keras-panns", "models"]) == 0
    err = capsys.readouterr().err
    assert err == "keras-panns: warning: the card has no md5: provenance is not claimed\n"


def test_tag_with_operating_points_keeps_each_class_over_its_own_threshold(shared_data, tmp_path, capsys):
    from keras_panns.decisions import OperatingPoints, logit
    from keras_panns.inference import iter_tags
    from keras_panns.runtimes.fingerprint import model_fingerprint

    wav = str(shared_data / "examples" / EXAMPLES[0])
    # Scores spread inside (0, 1): the golden weights' saturate at 1.
    preset = str(keras_panns.save_preset(golden.spread_scores(golden.fixture_model("Cnn6")), tmp_path / "cnn6"))
    model = keras_panns.from_pretrained(preset)
    scores = next(iter_tags(model, wav)).scores
    first, second = np.argsort(-scores)[:2]
    labels = model.labels
    points = OperatingPoints(
        model=model_fingerprint(model),
        target="f1",
        classes={
            labels[first]: {"threshold": float(scores[first]) - 1e-3, "calibration": [2.0, 0.5]},
            labels[second]: {"threshold": float(scores[second]) + 1e-3, "calibration": None},
        },
        default_threshold=1.0,
    )
    path = tmp_path / "points.json"
    points.save(path)
    args = ["keras-panns", "tag", "--checkpoint", preset, "--format", "json", "--operating_points", str(path)]
    assert main(args + ["--calibrated", wav]) == 0
    tags = json.loads(capsys.readouterr().out)["results"][0]["tags"]
    expected = 1 / (1 + np.exp(-(2.0 * logit(scores[first]) + 0.5)))
    assert [t["label"] for t in tags] == [labels[first]]
    assert tags[0]["score"] == pytest.approx(float(expected), abs=1e-5)
    assert keras_panns.tag(model, wav, operating_points=points) == [(labels[first], pytest.approx(scores[first]))]
    # Points chosen for other weights are refused, naming the difference.
    OperatingPoints(**{**points.__dict__, "model": dict(points.model, weights_sha256="0" * 64)}).save(path)
    assert main(args + [wav]) == 1
    assert "weights_sha256 000000000000... there" in capsys.readouterr().err
    assert main(["keras-panns", "tag", "--checkpoint", preset, "--calibrated", wav]) == 2


def test_tensorflow_and_keras_still_import_jax_on_their_own():
    # Canary of keras_panns.cli.main._NoJaxForTensorFlow: once neither TensorFlow nor Keras imports JAX on its
    # own import, delete the finder and this test (then a command would import no JAX without it).
    pytest.importorskip("jax")
    import inspect

    from keras.src.callbacks import orbax_checkpoint
    from tensorflow.lite.python import util

    assert "from jax import jit as _jit" in inspect.getsource(util)
    assert "    import jax\n" in inspect.getsource(orbax_checkpoint)


def test_a_command_loads_tensorflow_without_jax_and_jax_still_imports():
    pytest.importorskip("jax")
    code = (
        "import sys\n"
        "from keras_panns.cli.main import _skip_jax_in_tensorflow\n"
        "_skip_jax_in_tensorflow()\n"
        "import tensorflow, keras\n"
        "print('AFTER_TF', 'jax' in sys.modules)\n"
        "import jax\n"
        "print('JAX', jax.numpy.ones(2).sum())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "AFTER_TF False" in result.stdout and "JAX 2.0" in result.stdout
