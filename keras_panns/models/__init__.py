"""PANNs architectures as functional Keras models."""

from keras_panns.models.cnn.cnn import Cnn6, Cnn10, Cnn14
from keras_panns.models.panns_model import ARCHITECTURES, PANNsModel, get_architecture

__all__ = ["ARCHITECTURES", "Cnn6", "Cnn10", "Cnn14", "PANNsModel", "get_architecture"]
