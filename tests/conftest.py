import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("KERAS_PANNS_SHARED", REPO.parent / "shared"))


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
    return generic_examples(root / "esc10.csv", audio_dir=root / "audio", path_column="filename",
                            label_column="category")
