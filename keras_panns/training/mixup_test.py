import keras
import numpy as np
import pytest

import keras_panns
from keras_panns.training.mixup import PairMixup, mixup_points, with_feature_mixup

CASES = [
    ("Cnn6", dict(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, mel_bins=32), ("spec_augmenter",)),
    (
        "Cnn6",
        dict(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, mel_bins=32, spec_augment=False),
        ("bn0",),
    ),
    ("MobileNetV1", dict(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, mel_bins=32), ("spec_augmenter",)),
    (
        "Cnn14_DecisionLevelAtt",
        dict(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, mel_bins=64),
        ("spec_augmenter",),
    ),
    ("Wavegram_Cnn14", dict(sample_rate=8000), ("pre_block4__pool",)),
    ("Wavegram_Logmel_Cnn14", dict(sample_rate=32000), ("spec_augmenter", "pre_block4__pool")),
    ("LeeNet11", dict(sample_rate=8000), ()),
]


def test_pair_mixup_halves_the_batch():
    x = np.arange(4 * 3, dtype="float32").reshape(4, 3)
    out = keras.ops.convert_to_numpy(PairMixup()(x, np.array([0.25, 0.75, 1.0, 0.0], "float32")))
    np.testing.assert_allclose(out, [0.25 * x[0] + 0.75 * x[1], x[2]])


@pytest.mark.parametrize(
    "name,kwargs,points", CASES, ids=[c[0] + ("" if c[1].get("spec_augment", True) else "_nosa") for c in CASES]
)
def test_twin_mixes_at_the_reference_points_and_shares_weights(name, kwargs, points):
    model = keras_panns.get_architecture(name)(**kwargs)
    if "bn0" in {layer.name for layer in model.layers}:  # normalise log-mels of quiet noise, not raw dB
        bn0 = model.get_layer("bn0")
        bn0.moving_mean.assign(np.full(bn0.moving_mean.shape, -20.0, "float32"))
        bn0.moving_variance.assign(np.full(bn0.moving_variance.shape, 90.0, "float32"))
    assert mixup_points(model) == points
    twin = with_feature_mixup(model)
    assert {v.path for v in twin.weights} == {v.path for v in model.weights}  # the same variables
    assert sum(isinstance(layer, PairMixup) for layer in twin.layers) == 1
    rng = np.random.RandomState(0)
    x = rng.uniform(-0.5, 0.5, (4, max(model.min_samples, kwargs["sample_rate"]))).astype("float32")
    key = "clipwise_output"
    # lambda (1, 0) picks the first clip of each pair, (0, 1) the second: the twin then equals the model on them.
    for lam, clips in (([1, 0, 1, 0], x[0::2]), ([0, 1, 0, 1], x[1::2])):
        picked = twin({"waveform": x, "mixup_lambda": np.array(lam, "float32")})[key]
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(picked), keras.ops.convert_to_numpy(model(clips)[key]), atol=1e-5
        )
