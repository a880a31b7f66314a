"""Reading official PANNs PyTorch checkpoints (no torch needed) and porting them into Keras models."""

from keras_panns.checkpoint.port import port_state_dict
from keras_panns.checkpoint.torch_pickle import load_torch_file, read_state_dict

__all__ = ["load_torch_file", "port_state_dict", "read_state_dict"]
