"""The raw-waveform 1-D CNNs of PANNs: LeeNet11, LeeNet24, DaiNet19, Res1dNet31, Res1dNet51.

PyTorch pads these convolutions and poolings symmetrically (k11 s5 p5, k3 s3
p1, max-pool 3 p1), which Keras 'same' gets wrong for strides > 1; every
padding here is an explicit `ZeroPadding1D` before a 'valid' layer.
"""

from collections.abc import Sequence

import keras

from keras_panns.hub.registry import register_architecture
from keras_panns.layers import AddChannelAxis
from keras_panns.models import blocks
from keras_panns.models.blocks import Lengths, batch_norm, module_name
from keras_panns.models.config import check_labels, constructor_arguments
from keras_panns.models.panns_model import PANNsModel


def conv1d(x, filters, kernel, name, lengths, dtype, stride=1, padding=0, dilation=1):
    """Conv1D with PyTorch's symmetric zero padding made explicit; records its length change."""
    if padding:
        x = keras.layers.ZeroPadding1D(padding, name=module_name(name, "pad"), dtype=dtype)(x)
    lengths.add(dilation * (kernel - 1) + 1, stride, padding)
    return keras.layers.Conv1D(
        filters, kernel, strides=stride, dilation_rate=dilation, padding="valid", use_bias=False, name=name, dtype=dtype
    )(x)


def max_pool1d(x, size, name, lengths, dtype, padding=0):
    # Zero padding equals PyTorch's -inf padding here: every pooled input follows a ReLU.
    if padding:
        x = keras.layers.ZeroPadding1D(padding, name=f"{name}_pad", dtype=dtype)(x)
    lengths.add(size, size, padding)
    return keras.layers.MaxPooling1D(size, size, name=name, dtype=dtype)(x)


def _relu(x, name, dtype):
    return keras.layers.ReLU(name=name, dtype=dtype)(x)


class _WaveformTagger(PANNsModel):
    """Waveform `(batch, samples)` -> 1-D body -> max_t + mean_t -> fc1 -> classifier."""

    _default_embedding_size = 512

    def __init__(
        self,
        sample_rate: int = 32000,
        num_classes: int = 527,
        embedding_size: int | None = None,
        include_top: bool = True,
        classifier_activation: str | None = "sigmoid",
        pooling: str = "avg+max",
        head_dropout: float = 0.5,
        input_length: int | None = None,
        labels: Sequence[str] | None = None,
        name: str | None = None,
        dtype: str | keras.DTypePolicy | None = None,
        **kwargs: object,
    ) -> None:
        if embedding_size is None:
            embedding_size = self._default_embedding_size
        check_labels(labels, num_classes)
        lengths = Lengths()
        waveform = blocks.waveform_input(input_length)
        x = AddChannelAxis(name="add_channel_axis")(waveform)
        x = self._body(x, dtype=dtype, lengths=lengths)
        outputs = blocks.tagging_head(
            x,
            embedding_size=embedding_size,
            num_classes=num_classes,
            include_top=include_top,
            classifier_activation=classifier_activation,
            pooling=pooling,
            head_dropout=head_dropout,
            frequency_mean=False,
            dtype=dtype,
        )
        self._build_model(
            waveform,
            outputs,
            config=constructor_arguments(_WaveformTagger.__init__, locals()),
            min_samples=lengths.min_samples(),
            name=name,
            **kwargs,
        )

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        raise NotImplementedError


class _LeeNet(_WaveformTagger):
    block_channels = ()
    block_pools = ()
    _convs_per_block = 1
    _dropout = 0.0

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        for i, (filters, pool) in enumerate(zip(self.block_channels, self.block_pools), start=1):
            name = f"conv_block{i}"
            stride = 3 if i == 1 else 1
            for j in range(1, self._convs_per_block + 1):
                x = conv1d(
                    x,
                    filters,
                    3,
                    module_name(name, f"conv{j}"),
                    lengths,
                    dtype,
                    stride=stride if j == 1 else 1,
                    padding=1,
                )
                x = batch_norm(module_name(name, f"bn{j}"), dtype=dtype)(x)
                x = _relu(x, module_name(name, f"relu{j}"), dtype)
            if pool != 1:
                x = max_pool1d(x, pool, module_name(name, "pool"), lengths, dtype, padding=pool // 2)
            if self._dropout and i < len(self.block_channels):
                x = keras.layers.Dropout(self._dropout, name=f"dropout{i}", dtype=dtype)(x)
        return x


@register_architecture
class LeeNet11(_LeeNet):
    """PANNs LeeNet11: a 1-D CNN on the raw waveform (no log-mel), AudioSet mAP 0.266.

    Args:
        sample_rate: int. Input sample rate (32000 for the checkpoints).
        num_classes: int. Output classes of `fc_audioset`.
        embedding_size: int. Width of fc1 / `embedding`.
        include_top: bool. Whether to add the classifier.
        classifier_activation: str or None. Activation of `fc_audioset`.
        pooling: str. Global time pooling: "avg+max" (PANNs), "avg" or "max".
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        name: str. Model name.
        dtype: dtype policy of the network; the classifier computes in float32.

    Example:
    ```python
    model = keras_panns.LeeNet11.from_pretrained()
    ```
    """

    block_channels = (64, 64, 64, 128, 128, 128, 128, 128, 256)
    block_pools = (1,) + (3,) * 8


@register_architecture
class LeeNet24(_LeeNet):
    """PANNs LeeNet24: a 1-D CNN on the raw waveform (no log-mel), AudioSet mAP 0.336.

    Args:
        sample_rate: int. Input sample rate (32000 for the checkpoints).
        num_classes: int. Output classes of `fc_audioset`.
        embedding_size: int. Width of fc1 / `embedding`.
        include_top: bool. Whether to add the classifier.
        classifier_activation: str or None. Activation of `fc_audioset`.
        pooling: str. Global time pooling: "avg+max" (PANNs), "avg" or "max".
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        name: str. Model name.
        dtype: dtype policy of the network; the classifier computes in float32.

    Example:
    ```python
    model = keras_panns.LeeNet24.from_pretrained()
    ```
    """

    block_channels = (64, 96, 128, 128, 256, 256, 512, 512, 1024)
    block_pools = (1,) + (3,) * 7 + (1,)
    _convs_per_block = 2
    _dropout = 0.1
    _default_embedding_size = 1024


@register_architecture
class DaiNet19(_WaveformTagger):
    # The first residual block keeps its width, so the reference never applies
    # its (still saved) downsample convolution.
    """PANNs DaiNet19: a 1-D CNN on the raw waveform (no log-mel), AudioSet mAP 0.295.

    Args:
        sample_rate: int. Input sample rate (32000 for the checkpoints).
        num_classes: int. Output classes of `fc_audioset`.
        embedding_size: int. Width of fc1 / `embedding`.
        include_top: bool. Whether to add the classifier.
        classifier_activation: str or None. Activation of `fc_audioset`.
        pooling: str. Global time pooling: "avg+max" (PANNs), "avg" or "max".
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        name: str. Model name.
        dtype: dtype policy of the network; the classifier computes in float32.

    Example:
    ```python
    model = keras_panns.DaiNet19.from_pretrained()
    ```
    """

    unused_checkpoint_keys = ("conv_block1.downsample.*", "conv_block1.bn_downsample.*")

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        x = conv1d(x, 64, 80, "conv0", lengths, dtype, stride=4)
        x = batch_norm("bn0", dtype=dtype)(x)
        channels = 64
        for i, filters in enumerate((64, 128, 256, 512), start=1):
            name = f"conv_block{i}"
            identity = x
            for j in range(1, 5):
                x = conv1d(x, filters, 3, module_name(name, f"conv{j}"), Lengths(), dtype, padding=1)
                x = batch_norm(module_name(name, f"bn{j}"), dtype=dtype, zero_gamma=j == 4)(x)
                if j < 4:
                    x = _relu(x, module_name(name, f"relu{j}"), dtype)
            if channels != filters:
                identity = conv1d(identity, filters, 1, module_name(name, "downsample"), Lengths(), dtype)
                identity = batch_norm(module_name(name, "bn_downsample"), dtype=dtype)(identity)
            x = keras.layers.Add(name=module_name(name, "add"), dtype=dtype)([x, identity])
            x = _relu(x, module_name(name, "relu"), dtype)
            channels = filters
            if i < 4:
                x = max_pool1d(x, 4, f"max_pool{i}", lengths, dtype)
        return x


class _Res1dNet(_WaveformTagger):
    _stage_blocks = ()
    _default_embedding_size = 2048

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        x = conv1d(x, 64, 11, "conv0", lengths, dtype, stride=5, padding=5)
        x = batch_norm("bn0", dtype=dtype)(x)
        channels = 64
        widths, strides = (64, 128, 256, 512, 1024, 1024, 2048), (1, 4, 4, 4, 4, 4, 4)
        for index, (filters, stride, count) in enumerate(zip(widths, strides, self._stage_blocks), start=1):
            for i in range(count):
                block_stride = stride if i == 0 else 1
                name = module_name("resnet", f"layer{index}", str(i))
                x = self._block(x, channels, filters, block_stride, name, lengths, dtype)
                channels = filters
        return x

    @staticmethod
    def _block(x, inp, filters, stride, name, lengths, dtype):
        """BasicBlockWav1d: the main path max-pools, the shortcut average-pools."""
        identity = x
        if stride != 1:
            x = max_pool1d(x, stride, module_name(name, "pool"), lengths, dtype)
        out = conv1d(x, filters, 3, module_name(name, "conv1"), lengths, dtype, padding=1)
        out = batch_norm(module_name(name, "bn1"), dtype=dtype)(out)
        out = _relu(out, module_name(name, "relu1"), dtype)
        out = keras.layers.Dropout(0.1, name=module_name(name, "dropout"), dtype=dtype)(out)
        out = conv1d(out, filters, 3, module_name(name, "conv2"), lengths, dtype, padding=2, dilation=2)
        out = batch_norm(module_name(name, "bn2"), dtype=dtype, zero_gamma=True)(out)
        if stride != 1:
            identity = keras.layers.AveragePooling1D(
                stride, stride, name=module_name(name, "downsample", "0"), dtype=dtype
            )(identity)
            identity = conv1d(identity, filters, 1, module_name(name, "downsample", "1"), Lengths(), dtype)
            identity = batch_norm(module_name(name, "downsample", "2"), dtype=dtype)(identity)
        elif inp != filters:
            identity = conv1d(identity, filters, 1, module_name(name, "downsample", "0"), Lengths(), dtype)
            identity = batch_norm(module_name(name, "downsample", "1"), dtype=dtype)(identity)
        out = keras.layers.Add(name=module_name(name, "add"), dtype=dtype)([out, identity])
        return _relu(out, module_name(name, "relu2"), dtype)


@register_architecture
class Res1dNet31(_Res1dNet):
    """PANNs Res1dNet31: a 1-D CNN on the raw waveform (no log-mel), AudioSet mAP 0.365.

    Args:
        sample_rate: int. Input sample rate (32000 for the checkpoints).
        num_classes: int. Output classes of `fc_audioset`.
        embedding_size: int. Width of fc1 / `embedding`.
        include_top: bool. Whether to add the classifier.
        classifier_activation: str or None. Activation of `fc_audioset`.
        pooling: str. Global time pooling: "avg+max" (PANNs), "avg" or "max".
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        name: str. Model name.
        dtype: dtype policy of the network; the classifier computes in float32.

    Example:
    ```python
    model = keras_panns.Res1dNet31.from_pretrained()
    ```
    """

    _stage_blocks = (2, 2, 2, 2, 2, 2, 2)


@register_architecture
class Res1dNet51(_Res1dNet):
    """PANNs Res1dNet51: a 1-D CNN on the raw waveform (no log-mel), AudioSet mAP 0.355.

    Args:
        sample_rate: int. Input sample rate (32000 for the checkpoints).
        num_classes: int. Output classes of `fc_audioset`.
        embedding_size: int. Width of fc1 / `embedding`.
        include_top: bool. Whether to add the classifier.
        classifier_activation: str or None. Activation of `fc_audioset`.
        pooling: str. Global time pooling: "avg+max" (PANNs), "avg" or "max".
        head_dropout: float. Dropout before and after fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        name: str. Model name.
        dtype: dtype policy of the network; the classifier computes in float32.

    Example:
    ```python
    model = keras_panns.Res1dNet51.from_pretrained()
    ```
    """

    _stage_blocks = (2, 3, 4, 6, 4, 3, 2)
