"""SpecAugment with PANNs' DropStripes semantics."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_panns")
class SpecAugment(keras.layers.Layer):
    """Zeroes random time and frequency stripes of a spectrogram, per example.

    Follows torchlibrosa's `SpecAugmentation`/`DropStripes` as PANNs uses it:
    for each example and each stripe, `width ~ U{0, ..., drop_width - 1}` and
    `start ~ U{0, ..., total - width - 1}`; stripes are independent across
    examples, may overlap and may have width 0. Time stripes are applied before
    frequency stripes, and the masked value is 0 (PANNs masks after `bn0`).
    Active only when `training=True`; otherwise the input passes unchanged.

    Args:
        time_drop_width: int. Exclusive upper bound of a time stripe's width in frames.
        time_stripes_num: int. Time stripes per example.
        freq_drop_width: int. Exclusive upper bound of a frequency stripe's width in bins.
        freq_stripes_num: int. Frequency stripes per example.
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`.

    Call arguments:
        inputs: tensor `(batch, time, freq)`.
        training: bool. Masks only when true.

    Example:
    ```python
    aug = keras_panns.layers.SpecAugment(seed=0)
    masked = aug(np.ones((4, 1001, 64), "float32"), training=True)
    ```
    """

    def __init__(
        self, time_drop_width=64, time_stripes_num=2, freq_drop_width=8, freq_stripes_num=2, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.time_drop_width = int(time_drop_width)
        self.time_stripes_num = int(time_stripes_num)
        self.freq_drop_width = int(freq_drop_width)
        self.freq_stripes_num = int(freq_stripes_num)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _stripe_mask(self, batch, total, drop_width, stripes_num):
        """Boolean keep-mask `(batch, total)`: False inside any dropped stripe."""
        positions = ops.expand_dims(ops.arange(total, dtype="int32"), 0)
        keep = ops.ones((batch, total), dtype="bool")
        total_f = ops.cast(total, "float32")
        for _ in range(stripes_num):
            u_width = keras.random.uniform((batch, 1), seed=self.seed_generator)
            u_start = keras.random.uniform((batch, 1), seed=self.seed_generator)
            width = ops.floor(u_width * drop_width)
            # randint(0, total - width): uniform over [0, total - width).
            start = ops.floor(u_start * ops.maximum(total_f - width, 1.0))
            width = ops.cast(width, "int32")
            start = ops.cast(start, "int32")
            inside = ops.logical_and(positions >= start, positions < start + width)
            keep = ops.logical_and(keep, ops.logical_not(inside))
        return keep

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        batch, frames, bins = shape[0], shape[1], shape[2]
        time_keep = self._stripe_mask(batch, frames, self.time_drop_width, self.time_stripes_num)
        freq_keep = self._stripe_mask(batch, bins, self.freq_drop_width, self.freq_stripes_num)
        keep = ops.logical_and(ops.expand_dims(time_keep, 2), ops.expand_dims(freq_keep, 1))
        return ops.where(keep, inputs, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            time_drop_width=self.time_drop_width,
            time_stripes_num=self.time_stripes_num,
            freq_drop_width=self.freq_drop_width,
            freq_stripes_num=self.freq_stripes_num,
            seed=self.seed,
        )
        return config
