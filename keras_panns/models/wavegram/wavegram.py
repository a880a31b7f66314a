"""PANNs Wavegram models: a learned 1-D front end ("wavegram") shaped like a
log-mel map, alone (Wavegram_Cnn14) or beside the log-mel (Wavegram_Logmel_Cnn14,
Wavegram_Logmel128_Cnn14, AudioSet mAP 0.439)."""

from collections.abc import Sequence

import keras

from keras_panns.hub.registry import register_architecture
from keras_panns.layers import AddChannelAxis, AlignedConcatenate
from keras_panns.models import blocks
from keras_panns.models.blocks import Lengths, batch_norm, module_name
from keras_panns.models.cnn.cnn import Cnn14, cnn_body
from keras_panns.models.config import check_labels, constructor_arguments
from keras_panns.models.log_mel_tagger import LogMelTagger, dropout
from keras_panns.models.panns_model import PANNsModel
from keras_panns.models.waveform.waveform import conv1d, max_pool1d

_GROUPS = 4  # the wavegram's channels become 4 "channels" x (channels / 4) "frequency bins"


def wavegram(waveform, lengths, *, last_channels=128, dtype=None):
    """Waveform -> pre_conv0 -> pre_block1..3 -> reshape to a map -> pre_block4: `(batch, T, F, 64)`."""
    x = AddChannelAxis(name="wavegram_channel_axis")(waveform)
    x = conv1d(x, 64, 11, "pre_conv0", lengths, dtype, stride=5, padding=5)
    x = batch_norm("pre_bn0", dtype=dtype)(x)
    x = keras.layers.ReLU(name="pre_relu0", dtype=dtype)(x)
    for i, filters in enumerate((64, 128, last_channels), start=1):
        name = f"pre_block{i}"
        x = conv1d(x, filters, 3, module_name(name, "conv1"), lengths, dtype, padding=1)
        x = batch_norm(module_name(name, "bn1"), dtype=dtype)(x)
        x = keras.layers.ReLU(name=module_name(name, "relu1"), dtype=dtype)(x)
        x = conv1d(x, filters, 3, module_name(name, "conv2"), lengths, dtype, padding=2, dilation=2)
        x = batch_norm(module_name(name, "bn2"), dtype=dtype)(x)
        x = keras.layers.ReLU(name=module_name(name, "relu2"), dtype=dtype)(x)
        x = max_pool1d(x, 4, module_name(name, "pool"), lengths, dtype)
    # PyTorch (B, C, T) -> (B, 4, C/4, T) -> (B, 4, T, C/4): channel c = g * C/4 + f.
    freq = last_channels // _GROUPS
    x = keras.layers.Reshape((-1, _GROUPS, freq), name="wavegram_reshape", dtype=dtype)(x)
    x = keras.layers.Permute((1, 3, 2), name="wavegram_permute", dtype=dtype)(x)
    lengths.add(2, 2)
    return blocks.conv_block(x, 64, (2, 1), "pre_block4", dtype=dtype)


def _add_block_pools(lengths):
    """conv_block2..5 after the wavegram each pool time by 2."""
    for _ in range(4):
        lengths.add(2, 2)


@register_architecture
class Wavegram_Cnn14(PANNsModel):  # noqa: N801 (the reference's class name)
    """PANNs Wavegram_Cnn14: the wavegram front end + Cnn14 blocks 2-6, AudioSet mAP 0.389.

    Args:
        sample_rate: int. Input sample rate (32000).
        num_classes: as Cnn14.
        embedding_size: as Cnn14.
        include_top: as Cnn14.
        classifier_activation: as Cnn14.
        pooling: as Cnn14.
        block_dropout: as Cnn14.
        head_dropout: as Cnn14.
        input_length: as Cnn14.
        labels: as Cnn14.
        name: as Cnn14.
        dtype: as Cnn14.

    Example:
    ```python
    model = keras_panns.Wavegram_Cnn14.from_pretrained()
    ```
    """

    # The reference builds bn0 and conv_block1 (saved, untrained) but never calls them.
    unused_checkpoint_keys = ("bn0.*", "conv_block1.*")

    def __init__(
        self,
        sample_rate: int = 32000,
        num_classes: int = 527,
        embedding_size: int = 2048,
        include_top: bool = True,
        classifier_activation: str | None = "sigmoid",
        pooling: str = "avg+max",
        block_dropout: float = 0.2,
        head_dropout: float = 0.5,
        input_length: int | None = None,
        labels: Sequence[str] | None = None,
        name: str | None = None,
        dtype: str | keras.DTypePolicy | None = None,
        **kwargs: object,
    ) -> None:
        check_labels(labels, num_classes)
        lengths = Lengths()
        waveform = blocks.waveform_input(input_length)
        x = wavegram(waveform, lengths, dtype=dtype)
        x = dropout(block_dropout, "dropout1", dtype)(x)
        _add_block_pools(lengths)
        x = cnn_body(
            x, Cnn14.block_channels[1:], Cnn14.block_pools[1:], block_dropout=block_dropout, dtype=dtype, first=2
        )
        outputs = blocks.tagging_head(
            x,
            embedding_size=embedding_size,
            num_classes=num_classes,
            include_top=include_top,
            classifier_activation=classifier_activation,
            pooling=pooling,
            head_dropout=head_dropout,
            dtype=dtype,
        )
        self._build_model(
            waveform,
            outputs,
            config=constructor_arguments(Wavegram_Cnn14.__init__, locals()),
            min_samples=lengths.min_samples(),
            name=name,
            **kwargs,
        )


@register_architecture
class Wavegram_Logmel_Cnn14(LogMelTagger):  # noqa: N801
    """PANNs Wavegram_Logmel_Cnn14: log-mel (64 bins) and wavegram branches joined after block 1, mAP 0.439.

    Where the reference's two branches disagree in frame count (about half of
    all input lengths; it raises there), the longer branch's trailing frame is
    cropped: outputs equal the reference wherever it runs and are defined for
    every input of at least `min_samples`.

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
    model = keras_panns.Wavegram_Logmel_Cnn14.from_pretrained()
    ```
    """

    _wave_channels = 128

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        log_mel = blocks.conv_block(x, 64, (2, 2), "conv_block1", dtype=dtype)
        # Both branches must survive the pooling: LogMelTagger takes the stricter minimum.
        wave = wavegram(waveform, lengths, last_channels=self._wave_channels, dtype=dtype)
        _add_block_pools(lengths)
        x = AlignedConcatenate(name="branch_concat", dtype=dtype)([log_mel, wave])
        x = dropout(block_dropout, "dropout1", dtype)(x)
        return cnn_body(
            x, Cnn14.block_channels[1:], Cnn14.block_pools[1:], block_dropout=block_dropout, dtype=dtype, first=2
        )


@register_architecture
class Wavegram_Logmel128_Cnn14(Wavegram_Logmel_Cnn14):  # noqa: N801
    """PANNs Wavegram_Logmel128_Cnn14: log-mel (128 bins) and wavegram branches concatenated after the first block.

    Where the reference's two branches disagree in frame count (about half of
    all input lengths; it raises there), the longer branch's trailing frame is
    cropped: outputs equal the reference wherever it runs and are defined for
    every input of at least `min_samples`.

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
    model = keras_panns.Wavegram_Logmel128_Cnn14.from_pretrained()
    ```
    """

    _wave_channels = 256

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 128,
        **kwargs: object,
    ) -> None:
        super().__init__(
            sample_rate=sample_rate, window_size=window_size, hop_size=hop_size, mel_bins=mel_bins, **kwargs
        )
