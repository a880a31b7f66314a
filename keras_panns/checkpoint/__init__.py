"""Weights into Keras models: official PANNs PyTorch checkpoints (read without torch, then ported), or another model."""

from keras_panns.checkpoint.port import port_state_dict
from keras_panns.checkpoint.torch_pickle import load_torch_file, read_state_dict
from keras_panns.checkpoint.transfer import transfer_weights

__all__ = ["load_torch_file", "port_state_dict", "read_state_dict", "transfer_weights"]
