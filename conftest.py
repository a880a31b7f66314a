import importlib
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The commands' --runtime default is auto, which builds and times OpenVINO paths on first use of each model's
# weights (seconds per model); the command tests run Keras, and keras_panns/runtimes tests auto itself.
os.environ.setdefault("KERAS_PANNS_RUNTIME", "keras")

from keras_panns.testing import SHARED  # noqa: E402 (after the TensorFlow log level is set)


@pytest.fixture(scope="session")
def shared_data():
    """../shared/data (real recordings); tests that need it skip without it."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache or a real mirror from tests."""
    monkeypatch.setenv("KERAS_PANNS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KERAS_PANNS_MIRROR", raising=False)


@pytest.fixture(scope="session")
def esc10_examples(shared_data):
    """`(examples, class names)` of the 400 ESC-10 clips, read with keras_panns' generic CSV reader."""
    from keras_panns.data import generic_examples

    root = shared_data / "esc10"
    return generic_examples(
        root / "esc10.csv", audio_dir=root / "audio", path_column="filename", label_column="category"
    )


@pytest.fixture()
def panns_inference_models(tmp_path, monkeypatch):
    """`panns_inference.models`, the reference PyTorch networks, imported offline."""
    pytest.importorskip("torch")
    labels = tmp_path / "panns_data" / "class_labels_indices.csv"
    labels.parent.mkdir()
    from keras_panns import labels as label_module

    # panns_inference reads (or wgets) ~/panns_data/class_labels_indices.csv when imported.
    rows = ["index,mid,display_name"] + [
        f'{i},{mid},"{name}"'
        for i, (mid, name) in enumerate(zip(label_module.audioset_mids(), label_module.audioset_labels()))
    ]
    labels.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("panns_inference")]:
        monkeypatch.delitem(sys.modules, name)
    models = importlib.import_module("panns_inference.models")
    return models
