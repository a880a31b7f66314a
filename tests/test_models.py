"""Every registered architecture, one harness (as timm's tests/test_models.py walks its registry)."""

import gc

import keras
import pytest

import keras_panns
from keras_panns.testing import model_checks

ARCHITECTURES = sorted(keras_panns.ARCHITECTURES)


def test_the_registry_is_keras_own():
    assert len(ARCHITECTURES) == 19
    for name, cls in keras_panns.ARCHITECTURES.items():
        assert keras.saving.get_registered_object(f"keras_panns>{name}") is cls
        assert keras_panns.get_architecture(name.lower()) is cls


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_architecture(name, tmp_path):
    cls = keras_panns.get_architecture(name)
    model = cls()
    waveform = model_checks.test_waveform(model)
    try:
        expected = model_checks.check_outputs(model, waveform)
        model_checks.check_config_round_trip(model)
        model_checks.check_keras_round_trip(model, tmp_path, waveform, expected)
        model_checks.check_too_short_input(model)
        del model
        keras.backend.clear_session()
        model_checks.check_mixed_precision(cls, waveform)
    finally:
        # Full-size models hold up to 430 MB each; the suite must stay inside CI's memory.
        keras.backend.clear_session()
        gc.collect()
