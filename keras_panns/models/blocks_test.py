"""From-scratch initialisation follows the reference: the last BN of every residual block starts at gamma 0."""

import numpy as np
import pytest

import keras_panns

SMALL = dict(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, mel_bins=32)


@pytest.mark.parametrize(
    "name,kwargs,last_bn",
    [
        ("ResNet22", SMALL, "bn2"),
        ("ResNet54", SMALL, "bn3"),
        ("DaiNet19", {}, "bn4"),
        ("Res1dNet31", {}, "bn2"),
    ],
)
def test_residual_blocks_start_as_identity(name, kwargs, last_bn):
    model = keras_panns.get_architecture(name)(**kwargs)
    zeroed, ones = [], []
    for layer in model.layers:
        if hasattr(layer, "gamma") and layer.gamma is not None:
            gamma = np.asarray(layer.gamma)
            (zeroed if not gamma.any() else ones).append(layer.name)
            assert not gamma.any() or np.all(gamma == 1.0), layer.name
    assert zeroed and all(n.endswith("__" + last_bn) for n in zeroed)
    assert "bn0" in ones and not any(n.endswith("downsample__1") or n.endswith("bn_downsample") for n in zeroed)
