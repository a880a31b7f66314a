"""PANNs MobileNetV1 and MobileNetV2: log-mel MobileNets that downsample by
average pooling after the depthwise convolution."""

import keras

from keras_panns.hub.registry import register_architecture
from keras_panns.models.blocks import batch_norm, conv2d, module_name
from keras_panns.models.log_mel_tagger import LogMelTagger


def _pool(stride, name, dtype):
    return keras.layers.AveragePooling2D(stride, name=name, dtype=dtype) if stride != 1 else None


def _apply(x, *layers):
    for layer in layers:
        if layer is not None:
            x = layer(x)
    return x


def _relu(name, dtype, six):
    return keras.layers.ReLU(max_value=6.0 if six else None, name=name, dtype=dtype)


def _depthwise(name, dtype):
    return keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=name, dtype=dtype)


class _Base(LogMelTagger):
    _default_embedding_size = 1024


@register_architecture
class MobileNetV1(_Base):
    """PANNs MobileNetV1 (depthwise-separable, 4.8 M parameters), AudioSet mAP 0.389.

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
    model = keras_panns.MobileNetV1.from_pretrained()
    ```
    """

    _settings = (
        ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2))
        + ((512, 512, 1),) * 5
        + ((512, 1024, 2), (1024, 1024, 1))
    )

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        f = "features"
        # features.0 = conv_bn(1, 32, 2): conv, AvgPool2d(2), BN, ReLU.
        x = _apply(
            x,
            conv2d(32, 3, module_name(f, "0", "0"), dtype),
            _pool(2, module_name(f, "0", "1"), dtype),
            batch_norm(module_name(f, "0", "2"), dtype=dtype),
            _relu(module_name(f, "0", "3"), dtype, False),
        )
        for i, (inp, oup, stride) in enumerate(self._settings, start=1):
            n = str(i)
            x = _apply(
                x,
                _depthwise(module_name(f, n, "0"), dtype),
                _pool(stride, module_name(f, n, "1"), dtype),
                batch_norm(module_name(f, n, "2"), dtype=dtype),
                _relu(module_name(f, n, "3"), dtype, False),
                conv2d(oup, 1, module_name(f, n, "4"), dtype),
                batch_norm(module_name(f, n, "5"), dtype=dtype),
                _relu(module_name(f, n, "6"), dtype, False),
            )
        return x


@register_architecture
class MobileNetV2(_Base):
    """PANNs MobileNetV2 (inverted residuals, ReLU6, 4.1 M parameters), AudioSet mAP 0.383.

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
    model = keras_panns.MobileNetV2.from_pretrained()
    ```
    """

    _settings = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 2),
        (6, 160, 3, 1),
        (6, 320, 1, 1),
    )
    _dropout_before_fc1 = False

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        f = "features"
        x = _apply(
            x,
            conv2d(32, 3, module_name(f, "0", "0"), dtype),
            _pool(2, module_name(f, "0", "1"), dtype),
            batch_norm(module_name(f, "0", "2"), dtype=dtype),
            _relu(module_name(f, "0", "3"), dtype, True),
        )
        channels, index = 32, 1
        for t, c, n, s in self._settings:
            for i in range(n):
                x = self._inverted_residual(
                    x, channels, c, s if i == 0 else 1, t, module_name(f, str(index), "conv"), dtype
                )
                channels, index = c, index + 1
        n = str(index)
        return _apply(
            x,
            conv2d(1280, 1, module_name(f, n, "0"), dtype),
            batch_norm(module_name(f, n, "1"), dtype=dtype),
            _relu(module_name(f, n, "2"), dtype, True),
        )

    @staticmethod
    def _inverted_residual(x, inp, oup, stride, expand, name, dtype):
        """InvertedResidual with AvgPool after the depthwise conv; residual iff stride 1 and inp == oup."""
        if expand == 1:
            out = _apply(
                x,
                _depthwise(module_name(name, "0"), dtype),
                _pool(stride, module_name(name, "1"), dtype),
                batch_norm(module_name(name, "2"), dtype=dtype),
                _relu(module_name(name, "3"), dtype, True),
                conv2d(oup, 1, module_name(name, "4"), dtype),
                batch_norm(module_name(name, "5"), dtype=dtype),
            )
        else:
            hidden = int(round(inp * expand))
            out = _apply(
                x,
                conv2d(hidden, 1, module_name(name, "0"), dtype),
                batch_norm(module_name(name, "1"), dtype=dtype),
                _relu(module_name(name, "2"), dtype, True),
                _depthwise(module_name(name, "3"), dtype),
                _pool(stride, module_name(name, "4"), dtype),
                batch_norm(module_name(name, "5"), dtype=dtype),
                _relu(module_name(name, "6"), dtype, True),
                conv2d(oup, 1, module_name(name, "7"), dtype),
                batch_norm(module_name(name, "8"), dtype=dtype),
            )
        if stride == 1 and inp == oup:
            out = keras.layers.Add(name=module_name(name, "add"), dtype=dtype)([x, out])
        return out
