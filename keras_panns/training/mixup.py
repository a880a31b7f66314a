"""PANNs' own mixup, inside the network: pairs are mixed after `bn0` and SpecAugment.

`make_dataset(..., mixup_mode="features")` yields 2B unmixed waveforms with
per-clip coefficients `mixup_lambda` = `[l0, 1 - l0, l1, 1 - l1, ...]` and B
mixed targets. `with_feature_mixup(model)` returns the network that consumes
them: the same layers (so the same weights) with a `PairMixup` where the
reference calls `do_mixup`:

- log-mel models (Cnn*, ResNet*, MobileNet*, the SED Cnn14s): after SpecAugment
  (after `bn0` when SpecAugment is off), so `bn0` normalises the 2B unmixed
  clips and the rest of the network sees B mixed ones;
- Wavegram_Cnn14: after the wavegram's `pre_block4`;
- Wavegram_Logmel*: both branches, at those two points;
- 1-D waveform models (LeeNet, DaiNet, Res1dNet): the waveform itself.

Mixing log-mel features is not mixing audio: the log of a sum is not the sum
of the logs, and PANNs reports mAP 0.431 with feature mixup against 0.425
with waveform mixup (`Cnn14_mixup_time_domain`).
"""

import keras
from keras import ops

from keras_panns.training import keras_compat


@keras.saving.register_keras_serializable(package="keras_panns")
class PairMixup(keras.layers.Layer):
    """PANNs' `do_mixup`: `x[0::2] * lam[0::2] + x[1::2] * lam[1::2]`; halves the batch.

    Mixes whether or not `training` is set: the twin that holds it only
    exists to be trained, and its targets are already mixed.

    Call arguments:
        inputs: tensor `(2B, ...)`.
        mixup_lambda: tensor `(2B,)`, each pair's two weights.

    Example:
    ```python
    mixed = PairMixup()(np.ones((4, 10, 64), "float32"), np.array([0.3, 0.7, 1.0, 0.0], "float32"))  # (2, 10, 64)
    ```
    """

    def call(self, inputs, mixup_lambda):
        lam = ops.cast(mixup_lambda, inputs.dtype)
        lam = ops.reshape(lam, (-1,) + (1,) * (len(inputs.shape) - 1))
        return inputs[0::2] * lam[0::2] + inputs[1::2] * lam[1::2]

    def compute_output_shape(self, inputs_shape, mixup_lambda_shape):
        batch = None if inputs_shape[0] is None else inputs_shape[0] // 2
        return (batch,) + tuple(inputs_shape[1:])


def mixup_points(model):
    """Names of the layers whose outputs PANNs mixes; empty means the input waveform.

    Layer names follow the reference's module names, so they locate
    `do_mixup` in every architecture.
    """
    names = {layer.name for layer in model.layers}
    points = []
    if "bn0" in names:
        points.append("spec_augmenter" if "spec_augmenter" in names else "bn0")
    if "pre_block4__pool" in names:
        points.append("pre_block4__pool")
    return tuple(points)


def with_feature_mixup(model):
    """A training twin of `model` that mixes pairs where PANNs does.

    The twin takes `{"waveform": (2B, samples), "mixup_lambda": (2B,)}` (what
    `make_dataset(..., mixup_mode="features")` yields) and returns `model`'s
    outputs for the B mixed pairs. It shares every layer with `model`:
    training the twin trains `model`, which stays the one to save, export
    and evaluate.

    Args:
        model: a PANNs model (any architecture of the zoo).

    Returns:
        A functional `keras.Model` named `<model>_feature_mixup`.

    Example:
    ```python
    model = keras_panns.Cnn14(num_classes=10)
    twin = with_feature_mixup(model)
    twin.compile("adam", loss={"clipwise_output": "binary_crossentropy"})
    twin.fit(make_dataset(packed, mixup_alpha=1.0, mixup_mode="features").map(
        lambda x, y: (x, {"clipwise_output": y})), steps_per_epoch=100)
    model.save("cnn14_tuned.keras")
    ```
    """
    points = set(mixup_points(model))
    waveform = keras.Input(shape=model.input.shape[1:], dtype="float32", name="waveform")
    mixup_lambda = keras.Input(shape=(), dtype="float32", name="mixup_lambda")
    mixup = PairMixup(name="feature_mixup", dtype="float32")  # weightless, so one instance serves every point

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        return mixup(outputs, mixup_lambda) if layer.name in points else outputs

    start = waveform if points else mixup(waveform, mixup_lambda)
    # Re-running the graph on new inputs with the same layer objects shares the weights.
    outputs = keras_compat.rerun_graph(model, start, call)
    return keras.Model(
        {"waveform": waveform, "mixup_lambda": mixup_lambda}, outputs, name=f"{model.name}_feature_mixup"
    )
