"""MobileNetV1 and MobileNetV2: depthwise-separable blocks on the shared log-mel stem."""

import keras
import numpy as np
import pytest

import keras_panns

SMALL = dict(sample_rate=8000, window_size=256, hop_size=80, mel_bins=32, fmax=4000)


@pytest.mark.parametrize("cls,embedding", [(keras_panns.MobileNetV1, 1024), (keras_panns.MobileNetV2, 1024)])
def test_depthwise_blocks_and_the_default_embedding(cls, embedding):
    model = cls(**SMALL, num_classes=4)
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert depthwise and all(layer.kernel_size == (3, 3) and not layer.use_bias for layer in depthwise)
    out = model.predict_on_batch(np.zeros((2, 8000), "float32"))
    assert out["clipwise_output"].shape == (2, 4) and out["embedding"].shape == (2, embedding)


def test_v2_uses_relu6_and_v1_plain_relu():
    # The reference: MobileNetV1's blocks use ReLU, MobileNetV2's inverted residuals ReLU6.
    def caps(model):
        return {layer.max_value for layer in model.layers if isinstance(layer, keras.layers.ReLU)}

    assert caps(keras_panns.MobileNetV1(**SMALL, num_classes=2)) == {None}
    assert 6.0 in caps(keras_panns.MobileNetV2(**SMALL, num_classes=2))


def test_strides_are_average_pools_not_strided_depthwise_convolutions():
    # PANNs' MobileNets subsample with AvgPool2d after the depthwise convolution (see the module docstring).
    model = keras_panns.MobileNetV1(**SMALL, num_classes=2)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.strides == (1, 1) for layer in convolutions)
    assert any(isinstance(layer, keras.layers.AveragePooling2D) for layer in model.layers)
