"""The onnxruntime and LiteRT sessions of an exported file, without the export code (no TensorFlow).

`export` validates its files with them and the runtimes run them, so a file is run the same way in both.

Example:
```python
run = onnx_runner("model.onnx", threads=2)
run(np.zeros((1, 320000), "float32"))["clipwise_output"].shape  # (1, 527)
```
"""

import os

import numpy as np

from keras_panns.errors import ExportError
from keras_panns.runtimes.threads import resolve_threads

#: The signature a TFLite export serves.
SIGNATURE = "serving_default"


def load_session(path, threads=None):
    """An onnxruntime CPU session for an exported file.

    Args:
        path: str. An `.onnx` file.
        threads: int or None. Intra-op threads; None uses every core.
    """
    import onnxruntime

    if not os.path.exists(path):
        raise ExportError(f"{path}: no such file")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = resolve_threads(threads)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_runner(path, threads=None):
    """`batch -> {output name: array}`: the onnxruntime session of an ONNX export, as the runtimes run it.

    Args:
        path: str. The exported file.
        threads: int or None. Threads (None: the runtime's default).

    Returns:
        A function of a float32 batch `(clips, samples)`.

    Example:
    ```python
    onnx_runner("model.onnx")(np.zeros((1, 320000), "float32"))["clipwise_output"]
    ```
    """
    session = load_session(path, threads)
    names = [o.name for o in session.get_outputs()]

    def run(batch):
        return dict(zip(names, session.run(names, {"waveform": np.asarray(batch, np.float32)})))

    return run


def load_signature(path, threads=None):
    """The `serving_default` signature runner of an exported file (ai_edge_litert).

    Args:
        path: str. A `.tflite` file.
        threads: int or None. Interpreter threads; None uses every core
            (LiteRT's own default is one thread, 1.8x slower for Cnn14 on 2 cores).
    """
    from ai_edge_litert.interpreter import Interpreter

    if not os.path.exists(path):
        raise ExportError(f"{path}: no such file")
    interpreter = Interpreter(model_path=path, num_threads=resolve_threads(threads))
    return interpreter.get_signature_runner(SIGNATURE)


def tflite_runner(path, threads=None):
    """`batch -> {output name: array}`: the LiteRT signature of a TFLite export, as the runtimes run it.

    Args:
        path: str. The exported file.
        threads: int or None. Threads (None: the runtime's default).

    Returns:
        A function of a float32 batch `(clips, samples)`.

    Example:
    ```python
    tflite_runner("model.tflite")(np.zeros((1, 320000), "float32"))["clipwise_output"]
    ```
    """
    signature = load_signature(path, threads)

    def run(batch):
        return signature(waveform=np.asarray(batch, np.float32))

    return run
