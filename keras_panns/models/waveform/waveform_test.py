"""LeeNet11, LeeNet24, DaiNet19, Res1dNet31 and Res1dNet51: networks on the raw waveform."""

import numpy as np
import pytest

import keras_panns
from keras_panns.errors import AudioError
from keras_panns.layers import LogMelSpectrogram

FAMILY = [
    keras_panns.LeeNet11,
    keras_panns.LeeNet24,
    keras_panns.DaiNet19,
    keras_panns.Res1dNet31,
    keras_panns.Res1dNet51,
]


@pytest.mark.parametrize("cls", FAMILY)
def test_no_spectrogram_and_the_shortest_input_works(cls):
    model = cls(num_classes=3)
    assert not [layer for layer in model.layers if isinstance(layer, LogMelSpectrogram)]
    assert model.input_shape == (None, None)
    out = model.predict_on_batch(np.zeros((1, model.min_samples), "float32"))
    assert out["clipwise_output"].shape == (1, 3)
    with pytest.raises(AudioError, match=f"at least {model.min_samples} samples"):
        model.predict_on_batch(np.zeros((1, model.min_samples - 1), "float32"))


def test_without_the_top_only_the_embedding_is_returned():
    model = keras_panns.LeeNet11(include_top=False)
    out = model.predict_on_batch(np.zeros((1, 3200), "float32"))
    assert set(out) == {"embedding"} and "fc_audioset" not in [layer.name for layer in model.layers]
