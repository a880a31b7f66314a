"""PANNs ResNet22, ResNet38 and ResNet54: log-mel ResNets that downsample by
average pooling, never by strided convolutions."""

import keras

from keras_panns.hub.registry import register_architecture
from keras_panns.models import blocks
from keras_panns.models.blocks import batch_norm, conv2d, module_name
from keras_panns.models.log_mel_tagger import LogMelTagger, dropout


def _avg_pool(name, dtype):
    return keras.layers.AveragePooling2D(2, name=name, dtype=dtype)


def _shortcut(x, filters, stride, name, dtype):
    """`downsample`: [AvgPool2d(2)] -> conv1x1 -> BN; PyTorch indices shift with the pool."""
    if stride == 2:
        x = _avg_pool(module_name(name, "downsample", "0"), dtype)(x)
        x = conv2d(filters, 1, module_name(name, "downsample", "1"), dtype)(x)
        return batch_norm(module_name(name, "downsample", "2"), dtype=dtype)(x)
    x = conv2d(filters, 1, module_name(name, "downsample", "0"), dtype)(x)
    return batch_norm(module_name(name, "downsample", "1"), dtype=dtype)(x)


def basic_block(x, filters, stride, name, dtype, project):
    """`_ResnetBasicBlock`: the main path average-pools first when stride is 2."""
    identity = _shortcut(x, filters, stride, name, dtype) if project else x
    out = _avg_pool(module_name(name, "pool"), dtype)(x) if stride == 2 else x
    out = conv2d(filters, 3, module_name(name, "conv1"), dtype)(out)
    out = batch_norm(module_name(name, "bn1"), dtype=dtype)(out)
    out = keras.layers.ReLU(name=module_name(name, "relu1"), dtype=dtype)(out)
    out = dropout(0.1, module_name(name, "dropout"), dtype)(out)
    out = conv2d(filters, 3, module_name(name, "conv2"), dtype)(out)
    out = batch_norm(module_name(name, "bn2"), dtype=dtype, zero_gamma=True)(out)
    out = keras.layers.Add(name=module_name(name, "add"), dtype=dtype)([out, identity])
    return keras.layers.ReLU(name=module_name(name, "relu2"), dtype=dtype)(out)


def bottleneck_block(x, filters, stride, name, dtype, project):
    """`_ResnetBottleneck` (expansion 4): 1x1 -> 3x3 -> dropout -> 1x1."""
    identity = _shortcut(x, filters * 4, stride, name, dtype) if project else x
    out = _avg_pool(module_name(name, "pool"), dtype)(x) if stride == 2 else x
    out = conv2d(filters, 1, module_name(name, "conv1"), dtype)(out)
    out = batch_norm(module_name(name, "bn1"), dtype=dtype)(out)
    out = keras.layers.ReLU(name=module_name(name, "relu1"), dtype=dtype)(out)
    out = conv2d(filters, 3, module_name(name, "conv2"), dtype)(out)
    out = batch_norm(module_name(name, "bn2"), dtype=dtype)(out)
    out = keras.layers.ReLU(name=module_name(name, "relu2"), dtype=dtype)(out)
    out = dropout(0.1, module_name(name, "dropout"), dtype)(out)
    out = conv2d(filters * 4, 1, module_name(name, "conv3"), dtype)(out)
    out = batch_norm(module_name(name, "bn3"), dtype=dtype, zero_gamma=True)(out)
    out = keras.layers.Add(name=module_name(name, "add"), dtype=dtype)([out, identity])
    return keras.layers.ReLU(name=module_name(name, "relu3"), dtype=dtype)(out)


class _PANNsResNet(LogMelTagger):
    _block = None
    _stage_blocks = ()
    _expansion = 1

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        x = blocks.conv_block(x, 64, (2, 2), "conv_block1", dtype=dtype)
        x = dropout(block_dropout, "dropout1", dtype)(x)
        channels = 64
        for index, (filters, count) in enumerate(zip((64, 128, 256, 512), self._stage_blocks), start=1):
            stride = 1 if index == 1 else 2
            for i in range(count):
                block_stride = stride if i == 0 else 1
                project = i == 0 and (block_stride != 1 or channels != filters * self._expansion)
                x = self._block(
                    x, filters, block_stride, module_name("resnet", f"layer{index}", str(i)), dtype, project
                )
                channels = filters * self._expansion
        x = _avg_pool("resnet_pool", dtype)(x)
        x = dropout(block_dropout, "dropout2", dtype)(x)
        x = blocks.conv_block(x, 2048, (1, 1), "conv_block_after1", dtype=dtype)
        return dropout(block_dropout, "dropout3", dtype)(x)


@register_architecture
class ResNet22(_PANNsResNet):
    """PANNs ResNet22: ConvBlock, BasicBlocks [2, 2, 2, 2], AudioSet mAP 0.430.

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
    model = keras_panns.ResNet22.from_pretrained()
    ```
    """

    _block = staticmethod(basic_block)
    _stage_blocks = (2, 2, 2, 2)


@register_architecture
class ResNet38(_PANNsResNet):
    """PANNs ResNet38: ConvBlock, BasicBlocks [3, 4, 6, 3], AudioSet mAP 0.434.

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
    model = keras_panns.ResNet38.from_pretrained()
    ```
    """

    _block = staticmethod(basic_block)
    _stage_blocks = (3, 4, 6, 3)


@register_architecture
class ResNet54(_PANNsResNet):
    """PANNs ResNet54: ConvBlock, Bottlenecks [3, 4, 6, 3], AudioSet mAP 0.429.

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
    model = keras_panns.ResNet54.from_pretrained()
    ```
    """

    _block = staticmethod(bottleneck_block)
    _stage_blocks = (3, 4, 6, 3)
    _expansion = 4


_EXAMPLE = """
    Example:
    ```python
    model = keras_panns.{name}.from_pretrained()
    ```
"""
