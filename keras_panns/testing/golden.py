"""The parity fixtures of ../shared/golden and the rule that makes their weights.

The fixture README describes the rule; this is our own implementation of it,
so the test suite does not import anything from the shared folder's code.

Example:
```python
from keras_panns.testing import golden
model = keras_panns.Cnn6()
port_state_dict(model, golden.fixture_state_dict("Cnn6"))
```
"""

import json
import os
import pathlib
import zlib

import numpy as np

_REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN_DIR = pathlib.Path(os.environ.get("KERAS_PANNS_GOLDEN", _REPO.parent / "shared" / "golden" / "panns"))
LOCAL_DIR = _REPO / "tests" / "data" / "golden"


def golden_dir():
    """The fixtures folder: ../shared/golden/panns, else the copy in tests/data/golden."""
    return GOLDEN_DIR if GOLDEN_DIR.is_dir() else LOCAL_DIR


def load_spec(model_name):
    return json.loads((golden_dir() / f"{model_name}.json").read_text())


def load_outputs(model_name):
    with np.load(golden_dir() / f"{model_name}.npz") as data:
        return {k: data[k] for k in data.files}


def load_inputs(sample_rate):
    with np.load(golden_dir() / f"inputs_{sample_rate}.npz") as data:
        return {k: data[k] for k in data.files}


def synthetic_state_dict(spec, front_end=None):
    """The fixture weights: per-key RandomState(crc32(key)) draws, as the README specifies.

    Args:
        spec: a fixture JSON (keys, weight_gain, logmel_model).
        front_end: mapping of front-end key to array (the fixed DFT kernels
            and mel matrix), which the rule does not draw.
    """
    keys = spec["keys"]
    gain = spec["weight_gain"]
    logmel = spec["logmel_model"]
    bn_prefixes = {k[: -len(".running_mean")] for k, _, _ in keys if k.endswith(".running_mean")}
    out = {}
    for key, shape, _dtype in keys:
        shape = tuple(shape)
        if key.startswith(("spectrogram_extractor.", "logmel_extractor.")):
            out[key] = front_end[key]
            continue
        if key.endswith("num_batches_tracked"):
            out[key] = np.zeros(shape, np.int64)
            continue
        prefix, leaf = key.rsplit(".", 1)
        rs = np.random.RandomState(zlib.crc32(key.encode("utf-8")))
        if prefix in bn_prefixes:
            bounds = {
                "weight": (0.8, 1.2),
                "bias": (-0.1, 0.1),
                "running_mean": (-0.1, 0.1),
                "running_var": (0.5, 1.5),
            }[leaf]
            if prefix == "bn0" and logmel and leaf == "running_mean":
                bounds = (-25.0, -15.0)
            if prefix == "bn0" and logmel and leaf == "running_var":
                bounds = (60.0, 120.0)
            value = rs.uniform(*bounds, size=shape)
        elif leaf == "weight" and len(shape) >= 2:
            fan_in = shape[1] * int(np.prod(shape[2:]))
            bound = gain * np.sqrt(6.0 / fan_in)
            value = rs.uniform(-bound, bound, size=shape)
        else:
            value = rs.uniform(-0.1, 0.1, size=shape)
        out[key] = value.astype(np.float32)
    return out


def front_end_tensors(config):
    """torchlibrosa's front-end tensors for a fixture config, in PyTorch layout."""
    from keras_panns.layers.log_mel import mel_filter_bank, stft_kernels

    real, imag = stft_kernels(config["window_size"])
    mel = mel_filter_bank(
        config["sample_rate"], config["window_size"], config["mel_bins"], config["fmin"], config["fmax"]
    )
    return {
        "spectrogram_extractor.stft.conv_real.weight": real.T[:, None, :],
        "spectrogram_extractor.stft.conv_imag.weight": imag.T[:, None, :],
        "logmel_extractor.melW": mel,
    }


def fixture_state_dict(model_name):
    spec = load_spec(model_name)
    return synthetic_state_dict(spec, front_end_tensors(spec["config"]))


def fixture_model(architecture):
    """The architecture with its default config and the golden fixture's weights (fixture named like the class).

    Example:
    ```python
    sed = fixture_model("Cnn14_DecisionLevelMax")
    ```
    """
    from keras_panns.checkpoint import port_state_dict
    from keras_panns.models import get_architecture

    model = get_architecture(architecture)()
    port_state_dict(model, fixture_state_dict(architecture))
    return model


def spread_scores(model, factor=0.02):
    """Scales the classifier head of a golden-weights model in place, and returns the model.

    The golden weights saturate most scores at 1.0, where a score comparison or
    a top-5 ranking would mean little (and int8 quantization reorders the
    ties); a smaller head spreads the scores over the sigmoid's range.

    Example:
    ```python
    cnn6 = spread_scores(fixture_model("Cnn6"))
    ```
    """
    head = model.get_layer("fc_audioset")
    kernel, bias = head.get_weights()
    head.set_weights([factor * kernel, factor * bias])
    return model
