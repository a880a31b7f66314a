"""Layers of the PANNs sound-event-detection (decision-level) heads."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_panns")
class FramewiseUpsample(keras.layers.Layer):
    """Segment scores `(batch, segments, classes)` -> frame scores `(batch, frames, classes)`.

    PANNs' `interpolate` + `pad_framewise_output`: each segment is repeated
    `ratio` times, then the last frame is repeated up to the log-mel frame
    count `1 + samples // hop_size` of the input waveform. Written as a gather,
    so it has no data-dependent repeat counts (JAX and TFLite friendly).

    Args:
        ratio: int. Frames per segment (32: the trunk's total time pooling).
        hop_size: int. STFT hop of the front end, in samples.

    Call arguments:
        inputs: list `[segmentwise, waveform]`.

    Example:
    ```python
    up = keras_panns.layers.FramewiseUpsample(ratio=32, hop_size=320)
    up([np.zeros((1, 31, 527)), np.zeros((1, 320000))]).shape  # (1, 1001, 527)
    ```
    """

    def __init__(self, ratio=32, hop_size=320, **kwargs):
        super().__init__(**kwargs)
        self.ratio = int(ratio)
        self.hop_size = int(hop_size)

    def call(self, inputs):
        segmentwise, waveform = inputs
        frames = ops.shape(waveform)[1] // self.hop_size + 1
        segments = ops.shape(segmentwise)[1]
        index = ops.minimum(ops.arange(frames, dtype="int32") // self.ratio, segments - 1)
        return ops.take(segmentwise, index, axis=1)

    def compute_output_shape(self, input_shape):
        segment_shape, wave_shape = input_shape
        frames = None if wave_shape[1] is None else wave_shape[1] // self.hop_size + 1
        return (segment_shape[0], frames, segment_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(ratio=self.ratio, hop_size=self.hop_size)
        return config


@keras.saving.register_keras_serializable(package="keras_panns")
class AttentionPooling(keras.layers.Layer):
    """PANNs `AttBlock` pooling: `sum_t softmax_t(clip(att, -10, 10)) * cla`.

    Call arguments:
        inputs: list `[attention_logits, class_scores]`, both `(batch, time, classes)`.

    Returns:
        `(batch, classes)` clip scores.

    Example:
    ```python
    keras_panns.layers.AttentionPooling()([np.zeros((1, 31, 5)), np.ones((1, 31, 5))])  # all 1.0
    ```
    """

    def call(self, inputs):
        attention, scores = inputs
        weights = ops.softmax(ops.clip(attention, -10.0, 10.0), axis=1)
        return ops.sum(weights * scores, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][2])
