"""Building blocks shared by the PANNs families.

Layer names are the PyTorch module paths of the reference code with `.`
spelled `__` (e.g. `conv_block1__conv1` for `conv_block1.conv1`; the torch
backend forbids dots in names), so a checkpoint key maps to its Keras layer
without per-architecture tables.
"""

import keras

from keras_panns.layers import AddChannelAxis, FrequencyMean, LogMelSpectrogram, SpecAugment, TemporalPooling

BN_EPSILON = 1e-5  # PyTorch's default; Keras' 1e-3 would shift every activation.
BN_MOMENTUM = 0.9  # = 1 - PyTorch's momentum 0.1.


def module_name(*parts):
    """Keras layer name of a PyTorch module path: `module_name("conv_block1", "conv1")`."""
    return "__".join(parts)


def conv2d(filters, kernel_size, name, dtype=None):
    """A bias-free Conv2D with PyTorch's symmetric padding (stride 1, so 'same' is exact)."""
    return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=name, dtype=dtype)


class Lengths:
    """Records each 1-D layer's (kernel, stride, padding) to find the shortest usable input."""

    def __init__(self):
        self.ops = []

    def add(self, kernel, stride, padding=0):
        self.ops.append((kernel, stride, padding))

    def output(self, n):
        for kernel, stride, padding in self.ops:
            n = (n + 2 * padding - kernel) // stride + 1
            if n < 1:
                return 0
        return n

    def min_samples(self):
        lo, hi = 1, 1 << 22
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self.output(mid) >= 1 else (mid + 1, hi)
        return lo


def batch_norm(name, axis=-1, dtype=None, zero_gamma=False):
    """PyTorch-equivalent BatchNorm. `zero_gamma`: the reference zero-initialises the
    last BN of a residual block, so a block starts as the identity when trained from scratch."""
    return keras.layers.BatchNormalization(
        axis=axis,
        epsilon=BN_EPSILON,
        momentum=BN_MOMENTUM,
        name=name,
        gamma_initializer="zeros" if zero_gamma else "ones",
        dtype=dtype,
    )


def waveform_input(input_length=None):
    return keras.Input(shape=(input_length,), dtype="float32", name="waveform")


def default_freq_drop_width(mel_bins):
    """PANNs' SpecAugment frequency stripe width: 8 bins per 64 (mel32: 4, mel128: 16)."""
    return max(1, 8 * int(mel_bins) // 64)


def log_mel_stem(
    waveform, *, sample_rate, window_size, hop_size, mel_bins, fmin, fmax, spec_augment, freq_drop_width, seed
):
    """Waveform -> log-mel -> bn0 -> [SpecAugment] -> `(batch, time, mel, 1)`.

    bn0 normalises each mel bin (PyTorch transposes mel bins into channels),
    and stays float32 with the front end under mixed precision.
    """
    x = LogMelSpectrogram(
        sample_rate=sample_rate,
        window_size=window_size,
        hop_size=hop_size,
        mel_bins=mel_bins,
        fmin=fmin,
        fmax=fmax,
        name="logmel_extractor",
    )(waveform)
    x = batch_norm("bn0", dtype="float32")(x)
    if spec_augment:
        if freq_drop_width is None:
            freq_drop_width = default_freq_drop_width(mel_bins)
        x = SpecAugment(
            time_drop_width=64,
            time_stripes_num=2,
            freq_drop_width=freq_drop_width,
            freq_stripes_num=2,
            seed=seed,
            name="spec_augmenter",
        )(x)
    return AddChannelAxis(name="add_channel_axis")(x)


def conv_block(x, filters, pool_size, name, *, kernel_size=3, num_convs=2, dtype=None):
    """PANNs `ConvBlock` (two 3x3 convs) or `ConvBlock5x5` (one 5x5), then average pooling."""
    for i in range(1, num_convs + 1):
        x = conv2d(filters, kernel_size, module_name(name, f"conv{i}"), dtype)(x)
        x = batch_norm(module_name(name, f"bn{i}"), dtype=dtype)(x)
        x = keras.layers.ReLU(name=module_name(name, f"relu{i}"), dtype=dtype)(x)
    if tuple(pool_size) != (1, 1):
        x = keras.layers.AveragePooling2D(pool_size, name=module_name(name, "pool"), dtype=dtype)(x)
    return x


def tagging_head(
    feature_map,
    *,
    embedding_size,
    num_classes,
    include_top,
    classifier_activation,
    pooling,
    head_dropout,
    dropout_before_fc1=True,
    frequency_mean=True,
    dtype=None,
):
    """Global pooling, fc1 and the clip classifier of the PANNs tagging models.

    The classifier reads fc1's output *before* the embedding's dropout, as in
    the reference (the 0.5 dropout after fc1 only touches `embedding`).
    """
    x = FrequencyMean(name="frequency_mean", dtype=dtype)(feature_map) if frequency_mean else feature_map
    x = TemporalPooling(pooling, name="temporal_pooling", dtype=dtype)(x)
    if dropout_before_fc1:
        x = keras.layers.Dropout(head_dropout, name="head_dropout", dtype=dtype)(x)
    hidden = keras.layers.Dense(embedding_size, activation="relu", name="fc1", dtype=dtype)(x)
    outputs = {"embedding": keras.layers.Dropout(head_dropout, name="embedding_dropout", dtype=dtype)(hidden)}
    if include_top:
        # float32 so sigmoid scores and the BCE loss keep full precision under mixed policies.
        outputs["clipwise_output"] = keras.layers.Dense(
            num_classes, activation=classifier_activation, name="fc_audioset", dtype="float32"
        )(hidden)
    return outputs


def min_samples_for_pooling(time_stride, hop_size, window_size):
    """Shortest waveform whose log-mel survives a total time pooling of `time_stride`.

    Frames are `1 + samples // hop`; floors of successive /2 pools leave at
    least one frame iff frames >= time_stride. Reflect padding also needs
    more than `window_size // 2` samples.
    """
    return max((time_stride - 1) * hop_size, window_size // 2 + 1)
