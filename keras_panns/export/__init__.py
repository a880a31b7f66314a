"""Export PANNs models, log-mel front end included, to TFLite (LiteRT) and ONNX.

Every export is validated before it is reported as written: the exported
file is run in its own runtime (ai_edge_litert, onnxruntime) on test audio
and compared with the Keras model. See `export_model`.
"""

from keras_panns.errors import ExportError
from keras_panns.export.core import ExportReport, export_model

__all__ = ["ExportError", "ExportReport", "export_model"]
