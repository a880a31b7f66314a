"""PANNs architectures as functional Keras models."""

from keras_panns.hub.registry import ARCHITECTURES, get_architecture
from keras_panns.models.cnn.cnn import Cnn6, Cnn10, Cnn14
from keras_panns.models.mobilenet.mobilenet import MobileNetV1, MobileNetV2
from keras_panns.models.panns_model import PANNsModel
from keras_panns.models.resnet.resnet import ResNet22, ResNet38, ResNet54
from keras_panns.models.sed.sed import Cnn14_DecisionLevelAtt, Cnn14_DecisionLevelAvg, Cnn14_DecisionLevelMax
from keras_panns.models.waveform.waveform import DaiNet19, LeeNet11, LeeNet24, Res1dNet31, Res1dNet51
from keras_panns.models.wavegram.wavegram import Wavegram_Cnn14, Wavegram_Logmel128_Cnn14, Wavegram_Logmel_Cnn14

__all__ = [
    "ARCHITECTURES",
    "DaiNet19",
    "LeeNet11",
    "LeeNet24",
    "Res1dNet31",
    "Res1dNet51",
    "Cnn6",
    "Cnn10",
    "Cnn14",
    "Cnn14_DecisionLevelAtt",
    "Cnn14_DecisionLevelAvg",
    "Cnn14_DecisionLevelMax",
    "MobileNetV1",
    "MobileNetV2",
    "PANNsModel",
    "ResNet22",
    "ResNet38",
    "ResNet54",
    "Wavegram_Cnn14",
    "Wavegram_Logmel128_Cnn14",
    "Wavegram_Logmel_Cnn14",
    "get_architecture",
]
