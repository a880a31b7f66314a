"""The layer harness: every layer keras-panns registers through the same checks, on any backend.

As keras-hub's `TestCase.run_layer_test`: a layer's config round trip, its
`.keras` round trip (`safe_mode=True`), and its dtype under each policy
(front-end layers compute in float32 whatever the policy). `CASES` holds one
small, deterministic call per layer; `keras_panns/layers/layers_test.py` runs
the checks in its own process (TensorFlow) and runs this module under JAX and
PyTorch, comparing their outputs with TensorFlow's.

Example:
```bash
KERAS_BACKEND=jax python -m keras_panns.testing.layer_harness /tmp/jax_outputs.npz
```
"""

import dataclasses
import os
import sys
import tempfile

import keras
import numpy as np

from keras_panns import layers
from keras_panns.training.mixup import PairMixup

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """One layer call: the class, its constructor arguments and the shapes of its inputs.

    Attributes:
        cls: the layer class.
        kwargs: constructor arguments (small sizes: the harness runs every case on three backends).
        input_shapes: one shape per input; a layer called on a list has several.
        float32_front_end: the layer computes in float32 under any dtype policy.
        positive: inputs drawn in [0, 1) instead of [-0.5, 0.5) (e.g. scores).
        positional: several inputs are separate call arguments (`PairMixup()(x, mixup_lambda)`), not a list.
    """

    cls: type
    kwargs: dict
    input_shapes: tuple
    float32_front_end: bool = False
    positive: bool = False
    positional: bool = False


CASES = {
    "LogMelSpectrogram": LayerCase(
        layers.LogMelSpectrogram,
        dict(sample_rate=8000, window_size=256, hop_size=80, mel_bins=16, fmin=50, fmax=4000),
        ((2, 4000),),
        float32_front_end=True,
    ),
    "SpecAugment": LayerCase(layers.SpecAugment, dict(time_drop_width=4, freq_drop_width=2, seed=1), ((2, 20, 16),)),
    "FrequencyMean": LayerCase(layers.FrequencyMean, {}, ((2, 10, 4, 8),)),
    "TemporalPooling": LayerCase(layers.TemporalPooling, dict(mode="avg+max"), ((2, 10, 8),)),
    "AddChannelAxis": LayerCase(layers.AddChannelAxis, {}, ((2, 5, 3),)),
    "AlignedConcatenate": LayerCase(layers.AlignedConcatenate, {}, ((1, 11, 4, 3), (1, 10, 4, 2))),
    "FramewiseUpsample": LayerCase(layers.FramewiseUpsample, dict(ratio=4, hop_size=80), ((1, 5, 3), (1, 1600))),
    "AttentionPooling": LayerCase(layers.AttentionPooling, {}, ((1, 7, 3), (1, 7, 3)), positive=True),
    # Not a model layer: mixes pairs of a batch in training graphs (training.with_feature_mixup).
    "PairMixup": LayerCase(PairMixup, {}, ((4, 6, 3), (4,)), positive=True, positional=True),
}


def case_inputs(case):
    """The case's inputs: float32 arrays from `RandomState(0)`, one per shape.

    Args:
        case: a `LayerCase`.

    Returns:
        A list of numpy arrays.

    Example:
    ```python
    [x.shape for x in case_inputs(CASES["AlignedConcatenate"])]  # [(1, 11, 4, 3), (1, 10, 4, 2)]
    ```
    """
    rng = np.random.RandomState(0)
    low, high = (0.0, 1.0) if case.positive else (-0.5, 0.5)
    return [rng.uniform(low, high, shape).astype("float32") for shape in case.input_shapes]


def call(layer, inputs, positional=False):
    """The layer's output on the case's inputs, as numpy (one input is passed alone, several as a list).

    Args:
        layer: a built or unbuilt layer.
        inputs: the list from `case_inputs`.
        positional: pass several inputs as separate arguments (`LayerCase.positional`).

    Returns:
        A numpy array.

    Example:
    ```python
    call(layers.AddChannelAxis(), [np.ones((2, 5, 3), "float32")]).shape  # (2, 5, 3, 1)
    ```
    """
    out = _apply(layer, inputs, positional)
    return keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))


def _apply(layer, inputs, positional):
    if positional:
        return layer(*inputs)
    return layer(inputs[0] if len(inputs) == 1 else inputs)


def check_config_round_trip(case):
    """`from_config(get_config())` gives the same config and the same output.

    Args:
        case: a `LayerCase`.

    Returns:
        The layer's float32 output (numpy), for comparisons across backends.

    Raises:
        AssertionError: the config or the output changes.

    Example:
    ```python
    check_config_round_trip(CASES["TemporalPooling"]).shape  # (2, 8)
    ```
    """
    layer = case.cls(**case.kwargs)
    inputs = case_inputs(case)
    expected = call(layer, inputs, case.positional)
    config = layer.get_config()
    again = case.cls.from_config(config)
    assert again.get_config() == config, f"{case.cls.__name__}: config changes in a round trip"
    np.testing.assert_allclose(call(again, inputs, case.positional), expected, atol=1e-6, err_msg=case.cls.__name__)
    return expected


def check_keras_file_round_trip(case, directory):
    """A model of the one layer saved as `.keras` and loaded with `safe_mode=True` gives the same output.

    Args:
        case: a `LayerCase`.
        directory: where the `.keras` file is written.

    Raises:
        AssertionError: the loaded layer is of another class or gives another output.

    Example:
    ```python
    check_keras_file_round_trip(CASES["FrequencyMean"], "/tmp")
    ```
    """
    symbolic = [keras.Input(shape[1:], batch_size=shape[0]) for shape in case.input_shapes]
    layer = case.cls(**case.kwargs)
    model = keras.Model(symbolic[0] if len(symbolic) == 1 else symbolic, _apply(layer, symbolic, case.positional))
    inputs = case_inputs(case)
    path = os.path.join(directory, f"{case.cls.__name__}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.layers[-1]) is case.cls, f"{case.cls.__name__}: loaded as {type(loaded.layers[-1]).__name__}"
    feed = inputs[0] if len(inputs) == 1 else inputs
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(feed)),
        keras.ops.convert_to_numpy(model(feed)),
        atol=1e-6,
        err_msg=case.cls.__name__,
    )


def check_dtype_policies(case):
    """Under each policy the layer computes in its compute dtype (float32 for the front end), finite.

    Args:
        case: a `LayerCase`.

    Raises:
        AssertionError: an output of another dtype, or not finite.

    Example:
    ```python
    check_dtype_policies(CASES["LogMelSpectrogram"])  # float32 under mixed_bfloat16 too
    ```
    """
    previous = keras.config.dtype_policy()
    try:
        for policy in POLICIES:
            keras.config.set_dtype_policy(policy)
            layer = case.cls(**case.kwargs)
            inputs = case_inputs(case)
            out = _apply(layer, inputs, case.positional)
            expected = "float32" if case.float32_front_end else keras.config.dtype_policy().compute_dtype
            assert layer.compute_dtype == expected, (
                f"{case.cls.__name__} computes in {layer.compute_dtype} under {policy}"
            )
            got = keras.backend.standardize_dtype(out.dtype)
            assert got == expected, f"{case.cls.__name__} returns {got} under {policy}, not {expected}"
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")))), policy
    finally:
        keras.config.set_dtype_policy(previous)


def run_all(directory):
    """Every check on every case under the current backend.

    Args:
        directory: scratch space for the `.keras` files.

    Returns:
        `{case name: float32 output}`.

    Example:
    ```python
    outputs = run_all(tempfile.mkdtemp())
    ```
    """
    outputs = {}
    for name, case in CASES.items():
        outputs[name] = check_config_round_trip(case)
        check_keras_file_round_trip(case, directory)
        check_dtype_policies(case)
    return outputs


def main(argv):
    """`python -m keras_panns.testing.layer_harness OUT.npz`: run every check, save the outputs."""
    if len(argv) != 2:
        raise SystemExit("usage: python -m keras_panns.testing.layer_harness OUT.npz")
    with tempfile.TemporaryDirectory() as directory:
        outputs = run_all(directory)
    np.savez(argv[1], **outputs)
    print(f"{keras.backend.backend()}: {len(outputs)} layers passed")


if __name__ == "__main__":
    main(sys.argv)
