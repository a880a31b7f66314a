import numpy as np
import pytest

from keras_panns.layers import AddChannelAxis, FrequencyMean, TemporalPooling


def test_panns_global_pooling():
    x = np.random.RandomState(0).rand(2, 31, 2, 8).astype("float32")
    per_time = np.asarray(FrequencyMean()(x))
    np.testing.assert_allclose(per_time, x.mean(axis=2), rtol=1e-6)
    pooled = np.asarray(TemporalPooling()(per_time))
    np.testing.assert_allclose(pooled, per_time.max(axis=1) + per_time.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(TemporalPooling("max")(per_time)), per_time.max(axis=1), rtol=1e-6)


def test_pooling_rejects_unknown_mode():
    with pytest.raises(ValueError, match="pooling"):
        TemporalPooling("median")


def test_add_channel_axis():
    assert np.asarray(AddChannelAxis()(np.ones((2, 5, 3), "float32"))).shape == (2, 5, 3, 1)
