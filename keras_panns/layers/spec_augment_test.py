import keras
import numpy as np

from keras_panns.layers.spec_augment import SpecAugment


def _zeroed(x):
    return keras.ops.convert_to_numpy(x) == 0


def test_identity_outside_training():
    x = np.random.RandomState(0).rand(3, 200, 64).astype("float32") + 1
    aug = SpecAugment(seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)


def test_drop_stripes_follow_panns_bounds():
    batch, frames, bins = 64, 1001, 64
    x = np.ones((batch, frames, bins), "float32")
    zero = _zeroed(SpecAugment(seed=3)(x, training=True))
    time_dropped = zero.all(axis=2)  # (batch, frames): whole time rows zeroed
    freq_dropped = zero.all(axis=1)  # (batch, bins): whole mel columns zeroed
    # Every zero lies in a full row or a full column: stripes, not speckles.
    assert np.array_equal(zero, time_dropped[:, :, None] | freq_dropped[:, None, :])
    # Two stripes of width < 64 frames and < 8 bins each.
    assert time_dropped.sum(axis=1).max() <= 2 * 63
    assert freq_dropped.sum(axis=1).max() <= 2 * 7
    # Masks are drawn per example.
    assert len({row.tobytes() for row in time_dropped}) > batch // 2
    assert time_dropped.any() and freq_dropped.any()


def test_seeded_layers_repeat():
    x = np.ones((4, 300, 64), "float32")
    a = keras.ops.convert_to_numpy(SpecAugment(seed=7)(x, training=True))
    b = keras.ops.convert_to_numpy(SpecAugment(seed=7)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_frequency_width_scales_and_config_round_trips():
    aug = SpecAugment(freq_drop_width=16, seed=0)
    clone = SpecAugment.from_config(aug.get_config())
    assert clone.freq_drop_width == 16 and clone.time_drop_width == 64 and clone.seed == 0
