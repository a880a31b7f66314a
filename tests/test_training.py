"""Training on real ESC-10 clips: fitting, exact resume (also after kill -9), NaN stop."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from keras_panns.data import pack
from keras_panns.training import TrainConfig, TrainingError, train

TINY = {"window_size": 256, "hop_size": 80, "fmax": 4000, "mel_bins": 32, "embedding_size": 64}


@pytest.fixture(scope="module")
def esc_small(tmp_path_factory, esc10_examples):
    """40 ESC-10 clips of 4 classes, 8 kHz, 2 s."""
    examples, names = esc10_examples
    keep = names[:4]
    chosen = [e for e in examples if e.labels[0] < 4][:40]
    out = str(tmp_path_factory.mktemp("esc") / "packed")
    pack(chosen, out, label_names=keep, sample_rate=8000, clip_seconds=2.0, shard_size=10, workers=1, progress=False)
    return out


def _config(data, out, **kwargs):
    base = dict(
        model="Cnn6",
        train_dir=data,
        out_dir=str(out),
        steps=4,
        steps_per_epoch=2,
        batch_size=8,
        mixup_alpha=None,
        sampling="balanced",
        verbose=0,
        model_kwargs=TINY,
        seed=1,
    )
    base.update(kwargs)
    return TrainConfig(**base)


def test_loss_decreases_and_the_model_fits_real_clips(esc_small, tmp_path):
    from keras_panns.training.evaluate import predict_dataset

    summary = train(
        _config(
            esc_small,
            tmp_path,
            steps=60,
            steps_per_epoch=20,
            learning_rate=1e-3,
            model_kwargs={**TINY, "spec_augment": False},
        )
    )
    losses = summary["history"]["loss"]
    assert losses[-1] < 0.6 * losses[0]
    targets, scores = predict_dataset(summary["model"], esc_small)
    accuracy = np.mean(np.argmax(scores, 1) == np.argmax(targets, 1))
    print(f"losses {np.round(losses, 3)}, training-set accuracy {accuracy:.2f}")
    assert accuracy >= 0.8
    assert os.path.exists(summary["model_path"])


def _weights(model):
    return [np.asarray(w) for w in model.weights]


def test_resumed_training_equals_uninterrupted(esc_small, tmp_path):
    straight = train(_config(esc_small, tmp_path / "a", mixup_alpha=1.0))
    train(_config(esc_small, tmp_path / "b", steps=2, mixup_alpha=1.0))  # stops after the first checkpoint
    resumed = train(_config(esc_small, tmp_path / "b", mixup_alpha=1.0))
    assert resumed["resumed_from"] == 2
    for a, b in zip(_weights(straight["model"]), _weights(resumed["model"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(straight["fit_model"].optimizer.iterations) == int(resumed["fit_model"].optimizer.iterations) == 4


@pytest.mark.slow
def test_kill_9_then_resume(esc_small, tmp_path):
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        from keras_panns.training import TrainConfig, train
        train(TrainConfig(**{dataclasses.asdict(_config(esc_small, out, steps=40, steps_per_epoch=2))!r}))
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = out / "checkpoints" / "latest.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if latest.exists() and json.loads(latest.read_text())["step"] >= 4:
            break
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    saved = json.loads(latest.read_text())["step"]
    assert 4 <= saved < 40
    summary = train(_config(esc_small, out, steps=saved + 4, steps_per_epoch=2))
    assert summary["resumed_from"] == saved
    assert int(summary["fit_model"].optimizer.iterations) == saved + 4


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(esc_small, tmp_path, monkeypatch):
    import keras

    from keras_panns.training import trainer as train_module
    from keras_panns.training.checkpoints import latest_checkpoint

    train(_config(esc_small, tmp_path, steps=2))

    def poisoned(model, config):  # a loss that turns NaN, as a diverging run does
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss={"clipwise_output": lambda y, p: keras.ops.mean(p) * float("nan")},
        )
        return model

    monkeypatch.setattr(train_module, "compile_model", poisoned)
    with pytest.raises(TrainingError, match="loss became nan"):
        train(_config(esc_small, tmp_path, steps=6))
    assert latest_checkpoint(str(tmp_path / "checkpoints"))[0] == 2  # nothing saved after the NaN


def test_train_and_evaluate_command_lines(esc_small, tmp_path, capsys):
    from keras_panns.cli.main import main

    out = str(tmp_path / "run")
    assert (
        main(
            [
                "keras-panns",
                "train",
                "--model",
                "Cnn6",
                "--train_dir",
                esc_small,
                "--out",
                out,
                "--steps",
                "2",
                "--steps_per_epoch",
                "2",
                "--batch_size",
                "4",
                "--mixup_alpha",
                "0",
            ]
        )
        == 0
    )
    assert "trained to step 2 (resumed from 0)" in capsys.readouterr().out
    report = str(tmp_path / "per_class.csv")
    assert (
        main(
            [
                "keras-panns",
                "evaluate",
                "--checkpoint",
                out + "/model.keras",
                "--data",
                esc_small,
                "--report",
                report,
                "--top",
                "2",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("mAP ") and "best:" in printed and "worst:" in printed
    assert len(open(report).read().splitlines()) == 5  # header + 4 classes
    assert main(["keras-panns", "train", "--model", "Cnn6", "--out", out]) == 2


def test_speed_settings_are_checked_and_the_learning_rate_scales_only_when_asked(esc_small, tmp_path):
    from keras_panns.training import distribution
    from keras_panns.training.trainer import learning_rate

    assert learning_rate(_config(esc_small, tmp_path, batch_size=256)) == 1e-3
    assert learning_rate(_config(esc_small, tmp_path, batch_size=256, scale_learning_rate=True)) == 8e-3
    with pytest.raises(TrainingError, match="must divide steps_per_epoch"):
        train(_config(esc_small, tmp_path, steps_per_execution=3))
    with pytest.raises(TrainingError, match="for the JAX backend"):
        distribution.make_strategy("data_parallel")
    with pytest.raises(TrainingError, match="unknown strategy"):
        distribution.make_strategy("horovod")
    # Two steps per execution: the same run, with half the returns to Python.
    summary = train(_config(esc_small, tmp_path / "spe", steps_per_execution=2))
    assert int(summary["fit_model"].optimizer.iterations) == 4
