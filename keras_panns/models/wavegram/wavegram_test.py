"""Wavegram_Cnn14, Wavegram_Logmel_Cnn14 and Wavegram_Logmel128_Cnn14: a learned front end, alone or beside log-mel."""

import numpy as np
import pytest

import keras_panns
from keras_panns.layers import AlignedConcatenate, LogMelSpectrogram


def _has(model, layer_type):
    return any(isinstance(layer, layer_type) for layer in model.layers)


def test_wavegram_alone_has_no_spectrogram():
    model = keras_panns.Wavegram_Cnn14(num_classes=3, embedding_size=32)
    assert not _has(model, LogMelSpectrogram) and not _has(model, AlignedConcatenate)


@pytest.mark.parametrize(
    "cls,mel_bins", [(keras_panns.Wavegram_Logmel_Cnn14, 64), (keras_panns.Wavegram_Logmel128_Cnn14, 128)]
)
def test_logmel_variants_concatenate_the_two_front_ends(cls, mel_bins):
    model = cls(num_classes=3, embedding_size=32)
    (log_mel,) = [layer for layer in model.layers if isinstance(layer, LogMelSpectrogram)]
    assert log_mel.mel_bins == mel_bins and _has(model, AlignedConcatenate)
    out = model.predict_on_batch(np.zeros((1, model.min_samples), "float32"))
    assert out["clipwise_output"].shape == (1, 3) and out["embedding"].shape == (1, 32)
