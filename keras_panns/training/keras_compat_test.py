"""Canaries for `keras_panns.training.keras_compat`: each test fails once Keras no longer needs a workaround.

When one fails, Keras fixed the bug or gained the public API: delete the
workaround, use the public way, and delete its canary. The multi-worker canary runs processes, so it lives in
tests/test_distributed.py.
"""

import keras
import numpy as np
import pytest

from keras_panns.training import keras_compat, with_feature_mixup


def test_clone_model_still_cannot_add_an_input():
    waveform = keras.Input((4,))
    model = keras.Model(waveform, keras.layers.Dense(2)(waveform))
    weight = keras.Input((), name="mixup_lambda")

    def scaled(layer, *args, **kwargs):
        return layer(*args, **kwargs) * keras.ops.expand_dims(weight, -1)

    with pytest.raises(ValueError, match="not connected"):
        keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=scaled)


def test_rerun_graph_shares_the_layers():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    functional = keras.Model(model.inputs, model.outputs)
    fresh = keras.Input((4,))
    out = keras_compat.rerun_graph(functional, fresh, lambda layer, *args, **kwargs: layer(*args, **kwargs))
    twin = keras.Model(fresh, out)
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(twin.predict_on_batch(x), functional.predict_on_batch(x))
    assert twin.layers[-1] is functional.layers[-1]


def test_feature_mixup_twin_is_built_through_the_compat_module():
    import keras_panns

    model = keras_panns.Cnn6(
        num_classes=3, embedding_size=8, mel_bins=32, sample_rate=8000, window_size=256, hop_size=80, fmax=4000
    )
    twin = with_feature_mixup(model)
    assert {layer.name for layer in twin.layers} >= {"feature_mixup", "fc_audioset"}
    assert twin.get_layer("fc_audioset") is model.get_layer("fc_audioset")
