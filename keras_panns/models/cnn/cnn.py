"""The plain log-mel CNNs of PANNs: Cnn6, Cnn10 and Cnn14 (and all Cnn14 variants)."""

import math

import keras

from keras_panns.models import blocks
from keras_panns.models.panns_model import PANNsModel, register_architecture


class _PANNsCnn(PANNsModel):
    """Shared builder; subclasses fix the block type, widths and pools."""

    _num_convs = 2
    _kernel_size = 3
    _channels = ()
    _pools = ()
    _default_embedding_size = 2048

    def __init__(self, sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000,
                 num_classes=527, embedding_size=None, include_top=True, classifier_activation="sigmoid",
                 pooling="avg+max", spec_augment=True, freq_drop_width=None, block_dropout=0.2,
                 head_dropout=0.5, input_length=None, labels=None, seed=None, name=None, dtype=None, **kwargs):
        if embedding_size is None:
            embedding_size = self._default_embedding_size
        if labels is not None and len(labels) != num_classes:
            raise ValueError(f"labels has {len(labels)} names but num_classes is {num_classes}")
        freq_stride = math.prod(p[1] for p in self._pools)
        if mel_bins < freq_stride:
            raise ValueError(f"{type(self).__name__} pools frequency by {freq_stride}; mel_bins={mel_bins} is too few")

        # === Layers and functional model ===
        waveform = blocks.waveform_input(input_length)
        x = blocks.log_mel_stem(waveform, sample_rate=sample_rate, window_size=window_size, hop_size=hop_size,
                                mel_bins=mel_bins, fmin=fmin, fmax=fmax, spec_augment=spec_augment,
                                freq_drop_width=freq_drop_width, seed=seed)
        for i, (filters, pool) in enumerate(zip(self._channels, self._pools), start=1):
            x = blocks.conv_block(x, filters, pool, f"conv_block{i}", kernel_size=self._kernel_size,
                                  num_convs=self._num_convs, dtype=dtype)
            x = keras.layers.Dropout(block_dropout, name=f"dropout{i}", dtype=dtype)(x)
        outputs = blocks.tagging_head(x, embedding_size=embedding_size, num_classes=num_classes,
                                      include_top=include_top, classifier_activation=classifier_activation,
                                      pooling=pooling, head_dropout=head_dropout, dtype=dtype)
        super().__init__(inputs=waveform, outputs=outputs, name=name or type(self).__name__.lower(), **kwargs)

        # === Config ===
        time_stride = math.prod(p[0] for p in self._pools)
        self._set_config(
            dict(sample_rate=sample_rate, window_size=window_size, hop_size=hop_size, mel_bins=mel_bins,
                 fmin=fmin, fmax=fmax, num_classes=num_classes, embedding_size=embedding_size,
                 include_top=include_top, classifier_activation=classifier_activation, pooling=pooling,
                 spec_augment=spec_augment, freq_drop_width=freq_drop_width, block_dropout=block_dropout,
                 head_dropout=head_dropout, input_length=input_length, labels=labels, seed=seed, dtype=dtype),
            min_samples=blocks.min_samples_for_pooling(time_stride, hop_size, window_size))


_COMMON_ARGS = """
    Args:
        sample_rate: int. Input sample rate in Hz (32000; 16000 for Cnn14_16k, 8000 for Cnn14_8k).
        window_size: int. STFT size (1024 at 32 kHz, 512 at 16 kHz, 256 at 8 kHz).
        hop_size: int. STFT hop (320 / 160 / 80: 10 ms at every rate).
        mel_bins: int. Mel bands (64; 32 and 128 for the mel variants).
        fmin: float. Lowest mel frequency in Hz.
        fmax: float. Highest mel frequency in Hz (at most half the sample rate).
        num_classes: int. Output classes of `fc_audioset` (527 AudioSet classes).
        embedding_size: int. Width of fc1, i.e. of `embedding` (emb512/128/32 variants).
        include_top: bool. Whether to add `fc_audioset` and return `clipwise_output`.
        classifier_activation: str or None. Activation of `fc_audioset`; None for logits.
        pooling: str. Global time pooling: "avg+max" (PANNs), "avg" or "max".
        spec_augment: bool. SpecAugment during training (False = Cnn14_no_specaug).
        freq_drop_width: int or None. SpecAugment frequency stripe bound; None scales 8 per 64 mel bins.
        block_dropout: float. Dropout after each conv block (0 = Cnn14_no_dropout).
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names; None means AudioSet's when num_classes is 527.
        seed: int or None. Seed of SpecAugment's random generator.
        name: str. Model name.
        dtype: str or `keras.DTypePolicy`. Policy of the conv body; the front end,
            bn0 and the classifier always compute in float32.

    Inputs: float32 waveform `(batch, samples)` in [-1, 1] at `sample_rate`.
    Outputs: dict with `clipwise_output` `(batch, num_classes)` (if `include_top`)
        and `embedding` `(batch, embedding_size)`.
"""


@register_architecture
class Cnn14(_PANNsCnn):
    _channels = (64, 128, 256, 512, 1024, 2048)
    _pools = ((2, 2),) * 5 + ((1, 1),)
    _default_embedding_size = 2048


@register_architecture
class Cnn10(_PANNsCnn):
    _channels = (64, 128, 256, 512)
    _pools = ((2, 2),) * 4
    _default_embedding_size = 512


@register_architecture
class Cnn6(_PANNsCnn):
    _channels = (64, 128, 256, 512)
    _pools = ((2, 2),) * 4
    _default_embedding_size = 512
    _num_convs = 1
    _kernel_size = 5


Cnn14.__doc__ = """PANNs Cnn14: six double-3x3 conv blocks (64 to 2048 channels), AudioSet mAP 0.431.

    Covers every published Cnn14 variant through its arguments: Cnn14_16k and
    Cnn14_8k (front-end args), emb512/128/32 (`embedding_size`), mel32/mel128
    (`mel_bins`), no_specaug and no_dropout.
""" + _COMMON_ARGS + """
    Example:
    ```python
    model = keras_panns.Cnn14.from_pretrained()          # official weights
    out = model.predict(np.zeros((1, 320000), "float32"))
    out["clipwise_output"].shape                          # (1, 527)
    scratch = keras_panns.Cnn14(num_classes=50, sample_rate=16000, window_size=512,
                                hop_size=160, fmax=8000)
    ```
"""
Cnn10.__doc__ = """PANNs Cnn10: four double-3x3 conv blocks (64 to 512 channels), AudioSet mAP 0.380.
""" + _COMMON_ARGS + """
    Example:
    ```python
    model = keras_panns.Cnn10.from_pretrained()
    ```
"""
Cnn6.__doc__ = """PANNs Cnn6: four single-5x5 conv blocks (64 to 512 channels), AudioSet mAP 0.343.
""" + _COMMON_ARGS + """
    Example:
    ```python
    model = keras_panns.Cnn6.from_pretrained()
    ```
"""
