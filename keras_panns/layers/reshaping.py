"""Small shape layers, so model graphs need neither `Lambda` nor `x[..., None]`."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_panns")
class AddChannelAxis(keras.layers.Layer):
    """Appends a unit channel axis: `(batch, time, freq)` -> `(batch, time, freq, 1)`.

    Uses `ops.expand_dims`, which TFLite converts to a builtin, where
    `x[..., None]` on a dynamic shape would become a Flex op.

    Example:
    ```python
    keras_panns.layers.AddChannelAxis()(np.ones((2, 101, 64)))  # (2, 101, 64, 1)
    ```
    """

    def call(self, inputs):
        return ops.expand_dims(inputs, -1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (1,)
