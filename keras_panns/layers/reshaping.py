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


@keras.saving.register_keras_serializable(package="keras_panns")
class AlignedConcatenate(keras.layers.Layer):
    """Concatenates `(batch, time, freq, channels)` maps on channels after cropping
    them to the shorter time length.

    The reference Wavegram_Logmel_Cnn14 concatenates its log-mel and wavegram
    branches with `torch.cat` and raises when their frame counts differ by one
    (about half of all input lengths). Cropping the longer branch's trailing
    frame gives identical results wherever the reference works and a defined
    result everywhere else.

    Example:
    ```python
    keras_panns.layers.AlignedConcatenate()([np.ones((1, 51, 32, 64)), np.ones((1, 50, 32, 64))])  # (1, 50, 32, 128)
    ```
    """

    def call(self, inputs):
        first, second = inputs
        length = ops.minimum(ops.shape(first)[1], ops.shape(second)[1])
        return ops.concatenate([first[:, :length], second[:, :length]], axis=-1)

    def compute_output_shape(self, input_shape):
        (b, t1, f, c1), (_, t2, _, c2) = input_shape
        time = None if t1 is None or t2 is None else min(t1, t2)
        return (b, time, f, c1 + c2)
