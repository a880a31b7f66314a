"""Keras float32 forward passes that stay fast at batch 1 on every backend.

On TensorFlow, `predict_on_batch` feeds the weights to oneDNN as variables, and oneDNN reorders every
filter into its blocked layout on every call: Cnn14 ran at 0.92 clips/s at batch 1, slower than PyTorch
(`tools/benchmark_onednn.py`). Compiling the same forward with XLA keeps the weights as variables (so
fine-tuned or reloaded weights are always the ones used) and runs 3.0 clips/s. XLA compiles once per
input shape (1-2 s for Cnn14, more than one uncompiled call), so a shape is compiled when it comes a
second time (windows of a long file or a stream, a batch of equal clips), at most `MAX_COMPILED_SHAPES`
of them; a one-off shape (one file tagged once) runs uncompiled.

Models with depthwise convolutions (the MobileNets) are not compiled: XLA's CPU depthwise kernel ran
MobileNetV1 at 3.6 clips/s against 16.2 uncompiled (`tools/benchmark_cpu.py`, AMD EPYC, batch 1).
"""

import collections

import keras
import numpy as np

#: Input shapes compiled with XLA per model; later shapes run uncompiled (no compile per odd-length file).
MAX_COMPILED_SHAPES = 8


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


class KerasRunner:
    """Runs a Keras model's forward pass; `runner(batch)` returns its outputs as numpy arrays.

    Example:
    ```python
    runner = KerasRunner(model)
    runner(np.zeros((1, 320000), "float32"))["clipwise_output"].shape   # (1, 527)
    ```
    """

    runtime = "keras"
    precision = "float32"

    def __init__(self, model):
        self.model = model
        self._compiled = collections.OrderedDict()
        self._seen = collections.Counter()
        self._xla = keras.backend.backend() == "tensorflow" and not any(
            isinstance(layer, keras.layers.DepthwiseConv2D) for layer in _all_layers(model)
        )

    def _compiled_for(self, shape):
        if shape in self._compiled:
            return self._compiled[shape]
        self._seen[shape] += 1
        if self._seen[shape] < 2 or len(self._compiled) >= MAX_COMPILED_SHAPES:
            return None
        import tensorflow as tf

        model = self.model
        function = tf.function(
            lambda waveform: model(waveform, training=False),
            jit_compile=True,
            input_signature=[tf.TensorSpec(shape, tf.float32)],
        )
        self._compiled[shape] = function
        return function

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        if hasattr(self.model, "check_input_length"):
            self.model.check_input_length(batch.shape[-1])
        function = self._compiled_for(tuple(batch.shape)) if self._xla else None
        if function is None:
            outputs = self.model.predict_on_batch(batch)
        else:
            outputs = function(batch)
        return {name: np.asarray(value) for name, value in outputs.items()}

    def describe(self):
        how = "XLA-compiled TensorFlow" if self._xla else f"{keras.backend.backend()} predict_on_batch"
        return f"keras float32 ({how})"


def build(model, precision, options, context):
    """The registry's builder (`registry.Runtime.build`): a `KerasRunner` (float32 only).

    Example:
    ```python
    registry.get("keras").build(model, "float32", RuntimeOptions(), context)
    ```
    """
    return KerasRunner(model)
