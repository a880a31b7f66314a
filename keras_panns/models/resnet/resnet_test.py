"""ResNet22, ResNet38 and ResNet54: residual blocks that subsample by average pooling."""

import keras
import numpy as np
import pytest

import keras_panns

SMALL = dict(sample_rate=8000, window_size=256, hop_size=80, mel_bins=32, fmax=4000)


@pytest.mark.parametrize("cls", [keras_panns.ResNet22, keras_panns.ResNet38, keras_panns.ResNet54])
def test_no_strided_convolution_and_a_2048_embedding(cls):
    model = cls(**SMALL, num_classes=3)
    assert all(layer.strides == (1, 1) for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    shortcuts = [layer.name for layer in model.layers if "downsample" in layer.name]
    assert shortcuts and all(n.split("__")[-2] == "downsample" for n in shortcuts)
    out = model.predict_on_batch(np.zeros((1, 8000), "float32"))
    assert out["clipwise_output"].shape == (1, 3) and out["embedding"].shape == (1, 2048)


def test_resnet54_uses_bottlenecks_and_resnet22_basic_blocks():
    # Bottleneck blocks have a third convolution (conv3 / bn3), basic blocks two.
    names22 = {layer.name.split("__")[-1] for layer in keras_panns.ResNet22(**SMALL, num_classes=2).layers}
    names54 = {layer.name.split("__")[-1] for layer in keras_panns.ResNet54(**SMALL, num_classes=2).layers}
    assert "conv3" not in names22 and {"conv3", "bn3"} <= names54
