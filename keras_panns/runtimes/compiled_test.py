"""The compiled-model cache: a hit runs the same numbers, and every stale or broken entry is built again.

Real OpenVINO on a small model (MobileNetV1, golden weights, scores spread) saved as a preset folder.
"""

import json
import os
import sys
import threading

import numpy as np
import pytest

import keras_panns
from keras_panns.runtimes import RuntimeOptions, compiled, get_runner
from keras_panns.testing import golden

pytest.importorskip("openvino")
pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="OpenVINO converts the TensorFlow forward"
)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    model = golden.spread_scores(golden.fixture_model("MobileNetV1"))
    return str(keras_panns.save_preset(model, tmp_path_factory.mktemp("preset") / "mnv1"))


@pytest.fixture
def options(tmp_path):
    return RuntimeOptions(cache_dir=str(tmp_path / "cache"))


def _build_and_record(preset, options, runtime="openvino"):
    model = keras_panns.from_pretrained(preset)
    runner = get_runner(model, runtime, "auto" if runtime == "auto" else "float32", options)
    return (
        model,
        runner,
        compiled.record(preset, runtime, "auto" if runtime == "auto" else "float32", options, model, runner),
    )


def _clip():
    return np.random.RandomState(0).uniform(-0.5, 0.5, (2, 64000)).astype(np.float32)


def test_a_recorded_model_runs_the_same_numbers_without_keras(preset, options):
    model, runner, entry = _build_and_record(preset, options)
    assert entry and json.load(open(entry))["model"]["labels"] == list(model.labels)
    found, cached = compiled.load(preset, "openvino", "float32", options)
    assert (found.name, found.sample_rate, found.min_samples) == (model.name, model.sample_rate, model.min_samples)
    assert cached.path == runner.path and cached.describe() == runner.describe()
    np.testing.assert_array_equal(cached(_clip())["clipwise_output"], runner(_clip())["clipwise_output"])
    with pytest.raises(keras_panns.AudioError, match="short.wav"):
        found.check_input_length(10, "short.wav")
    # Another request is another entry: none yet.
    assert compiled.load(preset, "openvino", "bfloat16", options) is None
    assert compiled.load(preset, "keras", "float32", options) is None


def test_auto_records_the_fastest_agreeing_compiled_path(preset, options):
    _, runner, entry = _build_and_record(preset, options, runtime="auto")
    recorded = json.load(open(entry))
    assert recorded["runtime_used"] != "keras" and recorded["runtime"] == "auto"
    _, cached = compiled.load(preset, "auto", "auto", options)
    assert cached.runtime == recorded["runtime_used"]
    if runner.runtime == "keras":  # Keras won in-process: the entry says why the command starts elsewhere
        assert "without importing TensorFlow" in cached.choice.reason


def test_a_changed_checkpoint_is_not_answered_from_the_cache(preset, options, tmp_path):
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(preset, copy)
    _build_and_record(copy, options)
    assert compiled.load(copy, "openvino", "float32", options) is not None
    weights = os.path.join(copy, "model.weights.h5")
    stat = os.stat(weights)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten in place
    assert compiled.load(copy, "openvino", "float32", options) is None


def test_a_truncated_or_rebuilt_file_is_built_again_and_said_once(preset, options, capsys):
    _, runner, _ = _build_and_record(preset, options)
    weights = runner.path[: -len(".xml")] + ".bin"
    with open(weights, "r+b") as f:
        f.truncate(os.path.getsize(weights) // 2)
    assert compiled.load(preset, "openvino", "float32", options) is None
    assert compiled.load(preset, "openvino", "float32", options) is None
    said = capsys.readouterr().err
    assert said.count("changed or is missing since it was built; building it again") == 1


def test_another_runtime_version_is_built_again(preset, options):
    _, _, entry = _build_and_record(preset, options)
    recorded = json.load(open(entry))
    recorded["runtime_version"] = "1999.0.0"
    with open(entry, "w") as f:
        json.dump(recorded, f)
    assert compiled.load(preset, "openvino", "float32", options) is None


def test_a_missing_runtime_package_is_a_miss_and_the_build_names_the_extra(preset, options, monkeypatch):
    _build_and_record(preset, options)
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the package were not installed
    assert compiled.load(preset, "openvino", "float32", options) is None


def test_a_cache_that_cannot_be_written_runs_without_the_fast_path(preset, tmp_path, capsys):
    blocked = tmp_path / "cache"
    blocked.mkdir()
    (blocked / compiled.FOLDER).write_text("not a folder")  # root ignores permission bits; this cannot be written
    options = RuntimeOptions(cache_dir=str(blocked))
    model, runner, entry = _build_and_record(preset, options)
    assert entry is None and runner(_clip())["clipwise_output"].shape == (2, 527)
    assert "cannot cache the compiled model" in capsys.readouterr().err


def test_two_writers_of_one_entry_leave_a_whole_file(preset, options):
    model, runner, _ = _build_and_record(preset, options)
    paths = []
    threads = [
        threading.Thread(
            target=lambda: paths.append(compiled.record(preset, "openvino", "float32", options, model, runner))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 1 and json.load(open(paths[0]))["runtime_used"] == "openvino"
    assert compiled.load(preset, "openvino", "float32", options) is not None
    folder = os.path.dirname(paths[0])
    assert [name for name in os.listdir(folder) if not name.endswith(".json")] == []  # no partial files left
