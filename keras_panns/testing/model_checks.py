"""The checks every registered architecture passes (tests/test_models.py runs them for each).

Like keras-hub's `TestCase.run_backbone_test`: build, config round trip,
`.keras` round trip with `safe_mode=True`, mixed precision with a float32
front end and head, and the too-short-input error.

Example:
```python
from keras_panns.testing import model_checks
model_checks.check_keras_round_trip(keras_panns.Cnn6(), tmp_path)
```
"""

import keras
import numpy as np

from keras_panns.errors import AudioError
from keras_panns.layers import LogMelSpectrogram


def test_waveform(model, seed=0):
    """A deterministic random waveform of the shortest length `model` can pool."""
    return np.random.RandomState(seed).uniform(-0.5, 0.5, (1, model.min_samples)).astype("float32")


def outputs(model, waveform):
    return {k: np.asarray(v) for k, v in model.predict_on_batch(waveform).items()}


def check_outputs(model, waveform):
    """The output dict: float32, finite, with the batch dimension; the documented names."""
    out = outputs(model, waveform)
    assert "clipwise_output" in out, sorted(out)
    assert set(out) <= {"clipwise_output", "embedding", "framewise_output"}, sorted(out)
    for name, value in out.items():
        assert value.dtype == np.float32 and value.shape[0] == 1 and np.all(np.isfinite(value)), name
    assert out["clipwise_output"].shape == (1, model.config["num_classes"])
    return out


def check_config_round_trip(model):
    """`from_config(get_config())` is the same architecture with the same config and weight shapes."""
    again = type(model).from_config(model.get_config())
    assert again.get_config() == model.get_config()
    assert [tuple(w.shape) for w in again.weights] == [tuple(w.shape) for w in model.weights]
    assert again.min_samples == model.min_samples


def check_keras_round_trip(model, directory, waveform, expected):
    """`model.save` then `keras.saving.load_model(..., safe_mode=True)` gives the same class, config and outputs."""
    path = directory / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    path.unlink()
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    got = outputs(loaded, waveform)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def check_mixed_precision(cls, waveform):
    """Under `mixed_bfloat16` the body computes in bfloat16; the front end, bn0 and the scores stay float32.

    The embedding is fc1's output, in the body's compute dtype (Keras' convention).
    """
    model = cls(dtype="mixed_bfloat16")
    by_name = {layer.name: layer for layer in model.layers}
    log_mel = any(isinstance(layer, LogMelSpectrogram) for layer in model.layers)
    for layer in model.layers:
        # The waveform models' bn0 follows their first convolution: body, not front end.
        if isinstance(layer, LogMelSpectrogram) or layer.name == "fc_audioset" or (log_mel and layer.name == "bn0"):
            assert layer.compute_dtype == "float32", layer.name
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers if layer.weights)
    if "fc1" in by_name:
        assert by_name["fc1"].compute_dtype == "bfloat16"
    for name, value in outputs(model, waveform).items():
        assert np.all(np.isfinite(np.asarray(value, np.float32))), name
        assert name == "embedding" or value.dtype == np.float32, (name, value.dtype)


def check_too_short_input(model):
    """One sample fewer than `min_samples` is refused with an `AudioError` naming the minimum."""
    short = np.zeros((1, model.min_samples - 1), "float32")
    try:
        model.predict_on_batch(short)
    except AudioError as exc:
        assert f"at least {model.min_samples} samples" in str(exc), exc
    else:
        raise AssertionError(f"{model.name} accepted {model.min_samples - 1} samples")
