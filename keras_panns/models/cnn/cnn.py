"""The plain log-mel CNNs of PANNs: Cnn6, Cnn10 and Cnn14 (and all Cnn14 variants)."""

import math

from keras_panns.hub.registry import register_architecture
from keras_panns.models import blocks
from keras_panns.models.log_mel_tagger import LogMelTagger, dropout


class _PANNsCnn(LogMelTagger):
    """Stacks of ConvBlocks; subclasses fix the block type, widths and pools."""

    _num_convs = 2
    _kernel_size = 3
    block_channels = ()
    block_pools = ()

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        return cnn_body(
            x,
            self.block_channels,
            self.block_pools,
            kernel_size=self._kernel_size,
            num_convs=self._num_convs,
            block_dropout=block_dropout,
            dtype=dtype,
        )


def cnn_body(x, channels, pools, *, kernel_size=3, num_convs=2, block_dropout=0.2, dtype=None, first=1):
    """ConvBlocks `conv_block{first}..`, each followed by dropout (shared with SED and Wavegram models)."""
    for i, (filters, pool) in enumerate(zip(channels, pools), start=first):
        x = blocks.conv_block(
            x, filters, pool, f"conv_block{i}", kernel_size=kernel_size, num_convs=num_convs, dtype=dtype
        )
        x = dropout(block_dropout, f"dropout{i}", dtype)(x)
    return x


def _strides(pools):
    return math.prod(p[0] for p in pools), math.prod(p[1] for p in pools)


@register_architecture
class Cnn14(_PANNsCnn):
    """PANNs Cnn14: six double-3x3 conv blocks (64 to 2048 channels), AudioSet mAP 0.431.

    Covers every published Cnn14 variant through its arguments: Cnn14_16k and
    Cnn14_8k (front-end args), emb512/128/32 (`embedding_size`), mel32/mel128
    (`mel_bins`), no_specaug and no_dropout.

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
        block_dropout: float. Dropout between blocks (0 = Cnn14_no_dropout).
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names; None means AudioSet's when num_classes is 527.
        seed: int or None. Seed of SpecAugment's random generator.
        name: str. Model name.
        dtype: str or `keras.DTypePolicy`. Policy of the body; the front end,
            bn0 and the classifier always compute in float32.

    Inputs: float32 waveform `(batch, samples)` in [-1, 1] at `sample_rate`.
    Outputs: dict with `clipwise_output` `(batch, num_classes)` (if `include_top`)
        and `embedding` `(batch, embedding_size)`.

    Example:
    ```python
    model = keras_panns.Cnn14.from_pretrained()          # official weights
    out = model.predict(np.zeros((1, 320000), "float32"))
    out["clipwise_output"].shape                          # (1, 527)
    scratch = keras_panns.Cnn14(num_classes=50, sample_rate=16000, window_size=512,
                                hop_size=160, fmax=8000)
    ```
    """

    block_channels = (64, 128, 256, 512, 1024, 2048)
    block_pools = ((2, 2),) * 5 + ((1, 1),)
    time_stride, freq_stride = _strides(block_pools)
    _default_embedding_size = 2048


class _FourBlockCnn(_PANNsCnn):
    """Cnn6 and Cnn10: four blocks of 64 to 512 channels, each pooling by 2 x 2."""

    block_channels = (64, 128, 256, 512)
    block_pools = ((2, 2),) * 4
    time_stride, freq_stride = _strides(block_pools)
    _default_embedding_size = 512


@register_architecture
class Cnn10(_FourBlockCnn):
    """PANNs Cnn10: four double-3x3 conv blocks (64 to 512 channels), AudioSet mAP 0.380.

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
        block_dropout: float. Dropout between blocks (0 = Cnn14_no_dropout).
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names; None means AudioSet's when num_classes is 527.
        seed: int or None. Seed of SpecAugment's random generator.
        name: str. Model name.
        dtype: str or `keras.DTypePolicy`. Policy of the body; the front end,
            bn0 and the classifier always compute in float32.

    Inputs: float32 waveform `(batch, samples)` in [-1, 1] at `sample_rate`.
    Outputs: dict with `clipwise_output` `(batch, num_classes)` (if `include_top`)
        and `embedding` `(batch, embedding_size)`.

    Example:
    ```python
    model = keras_panns.Cnn10.from_pretrained()
    ```
    """


@register_architecture
class Cnn6(_FourBlockCnn):
    """PANNs Cnn6: four single-5x5 conv blocks (64 to 512 channels), AudioSet mAP 0.343.

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
        block_dropout: float. Dropout between blocks (0 = Cnn14_no_dropout).
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names; None means AudioSet's when num_classes is 527.
        seed: int or None. Seed of SpecAugment's random generator.
        name: str. Model name.
        dtype: str or `keras.DTypePolicy`. Policy of the body; the front end,
            bn0 and the classifier always compute in float32.

    Inputs: float32 waveform `(batch, samples)` in [-1, 1] at `sample_rate`.
    Outputs: dict with `clipwise_output` `(batch, num_classes)` (if `include_top`)
        and `embedding` `(batch, embedding_size)`.

    Example:
    ```python
    model = keras_panns.Cnn6.from_pretrained()
    ```
    """

    _num_convs = 1
    _kernel_size = 5
