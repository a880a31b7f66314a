"""The layer harness (keras_panns.testing.layer_harness) for every layer, on TensorFlow, JAX and PyTorch."""

import keras
import numpy as np
import pytest

from keras_panns import layers
from keras_panns.testing import layer_harness


def test_every_layer_has_a_case():
    exported = {
        name
        for name in layers.__all__
        if isinstance(getattr(layers, name), type) and issubclass(getattr(layers, name), keras.layers.Layer)
    }
    import keras_panns.models  # noqa: F401  (everything that registers layers, as a saved model would load them)
    import keras_panns.training  # noqa: F401

    registered = {
        key.split(">", 1)[1]
        for key, obj in keras.saving.get_custom_objects().items()
        if key.startswith("keras_panns>")
        and isinstance(obj, type)
        and issubclass(obj, keras.layers.Layer)
        and not issubclass(obj, keras.Model)
    }
    assert exported <= registered
    assert registered == set(layer_harness.CASES)


@pytest.mark.parametrize("name", sorted(layer_harness.CASES))
def test_layer(name, tmp_path):
    case = layer_harness.CASES[name]
    layer_harness.check_config_round_trip(case)
    layer_harness.check_keras_file_round_trip(case, str(tmp_path))
    layer_harness.check_dtype_policies(case)


def test_spec_augment_drops_stripes_only_in_training():
    case = layer_harness.CASES["SpecAugment"]
    (x,) = layer_harness.case_inputs(case)
    layer = case.cls(**case.kwargs)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    dropped = np.asarray(layer(x, training=True))
    assert dropped.shape == x.shape and (dropped == 0).any() and np.all((dropped == 0) | (dropped == x))
