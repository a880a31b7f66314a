"""onnxruntime and LiteRT forward passes through the project's validated exports, cached by the model's key."""

import os

from keras_panns.errors import RuntimeUnavailableError
from keras_panns.runtimes.fingerprint import cache_key

_FORMATS = {"onnxruntime": ("onnx", "onnxruntime"), "litert": ("tflite", "ai_edge_litert")}
_QUANTIZE = {"float32": "none", "int8": "int8"}


def _files_key(paths):
    """A stable key of calibration files: their paths, sizes and modification times."""
    import hashlib

    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(map(os.fspath, paths)):
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class ExportedRunner:
    """Runs an exported ONNX (onnxruntime) or TFLite (LiteRT) file of the model, dynamic batch and length.

    The file is written once by `keras_panns.export.export_model` (which proves it reproduces the Keras
    model, or leaves nothing) under `cache_dir/exports`, keyed by the weights' hash and precision.

    Example:
    ```python
    runner = ExportedRunner(model, "onnxruntime", "float32", cache_dir="/tmp/cache")
    runner(np.zeros((1, 320000), "float32"))["clipwise_output"].shape   # (1, 527)
    ```
    """

    def __init__(self, model, runtime, precision, cache_dir, calibration=None, threads=None, key=None, path=None):
        from keras_panns.runtimes import registry

        fmt, _ = _FORMATS[runtime]
        missing = registry.get(runtime).missing()
        if missing:
            raise RuntimeUnavailableError(missing)
        if precision not in _QUANTIZE:
            raise RuntimeUnavailableError(registry.get(runtime).precision_error(precision))
        if precision == "int8" and not calibration and path is None:
            raise RuntimeUnavailableError(
                "int8 needs calibration audio (--calibration DIR_OR_FILE, or calibration=[paths])"
            )
        from keras_panns.runtimes.sessions import onnx_runner, tflite_runner

        self.model, self.runtime, self.precision = model, runtime, precision
        if path is None:
            suffix = "" if precision == "float32" else f"-{_files_key(calibration)}"
            path = os.path.join(cache_dir, "exports", key or cache_key(model), f"{precision}{suffix}.{fmt}")
        self.path = path  # given: a compiled file found without the Keras model (runtimes.compiled)
        if not os.path.exists(self.path):
            from keras_panns.export import export_model

            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            export_model(
                model,
                self.path,
                format=fmt,
                length=None,
                quantize=_QUANTIZE[precision],
                metadata=False,
                threads=threads,
                calibration=list(calibration) if precision == "int8" else None,
            )
        self._run = (onnx_runner if fmt == "onnx" else tflite_runner)(self.path, threads)

    def __call__(self, batch):
        import numpy as np

        batch = np.asarray(batch, np.float32)
        self.model.check_input_length(batch.shape[-1])
        return {name: np.asarray(value) for name, value in self._run(batch).items()}

    def describe(self):
        return f"{self.runtime} {self.precision} ({self.path})"


def build(model, precision, options, context):
    """The registry's builder for onnxruntime and LiteRT (`registry.Runtime.build`): an `ExportedRunner`.

    Example:
    ```python
    registry.get("onnxruntime").build(model, "float32", RuntimeOptions(), context)
    ```
    """
    return ExportedRunner(
        model, context.runtime, precision, context.cache_root, options.calibration_paths(), options.threads, context.key
    )


def load_compiled(path, precision, options, model):
    """The registry's loader for onnxruntime and LiteRT: an `ExportedRunner` of a cached export, no Keras.

    Example:
    ```python
    load_compiled("/cache/exports/k/float32.onnx", "float32", RuntimeOptions(), compiled_model)
    ```
    """
    runtime = "onnxruntime" if path.endswith(".onnx") else "litert"
    return ExportedRunner(model, runtime, precision, None, threads=options.threads, path=path)
