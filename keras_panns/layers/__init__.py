"""Keras layers of the PANNs front ends and heads (backend-agnostic, serializable)."""

from keras_panns.layers.log_mel import (
    DFT_MODES,
    LogMelSpectrogram,
    log_mel_layers,
    mel_filter_bank,
    set_dft,
    stft_kernels,
)
from keras_panns.layers.pooling import FrequencyMean, TemporalPooling
from keras_panns.layers.reshaping import AddChannelAxis, AlignedConcatenate
from keras_panns.layers.sed import AttentionPooling, FramewiseUpsample
from keras_panns.layers.spec_augment import SpecAugment

__all__ = [
    "DFT_MODES",
    "AddChannelAxis",
    "AlignedConcatenate",
    "AttentionPooling",
    "FramewiseUpsample",
    "FrequencyMean",
    "LogMelSpectrogram",
    "SpecAugment",
    "TemporalPooling",
    "log_mel_layers",
    "mel_filter_bank",
    "set_dft",
    "stft_kernels",
]
