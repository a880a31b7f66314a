"""Pooling layers of the PANNs heads."""

import keras
from keras import ops

_MODES = ("avg+max", "avg", "max")


@keras.saving.register_keras_serializable(package="keras_panns")
class FrequencyMean(keras.layers.Layer):
    """Averages a `(batch, time, freq, channels)` map over frequency.

    This is PANNs' `torch.mean(x, dim=3)`, giving `(batch, time, channels)`.

    Example:
    ```python
    keras_panns.layers.FrequencyMean()(np.ones((1, 31, 2, 8)))  # (1, 31, 8)
    ```
    """

    def call(self, inputs):
        return ops.mean(inputs, axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[3])


@keras.saving.register_keras_serializable(package="keras_panns")
class TemporalPooling(keras.layers.Layer):
    """Pools a `(batch, time, channels)` sequence over time.

    The PANNs default `"avg+max"` is `max_t(x) + mean_t(x)`; `"avg"` and
    `"max"` keep one of the two terms (a departure from the checkpoints'
    training, offered for experiments and fine-tuning).

    Args:
        mode: str. One of `"avg+max"`, `"avg"`, `"max"`.

    Example:
    ```python
    keras_panns.layers.TemporalPooling()(np.ones((1, 31, 8)))  # (1, 8), all 2.0
    ```
    """

    def __init__(self, mode="avg+max", **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"pooling must be one of {_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "avg":
            return ops.mean(inputs, axis=1)
        if self.mode == "max":
            return ops.max(inputs, axis=1)
        return ops.max(inputs, axis=1) + ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config
