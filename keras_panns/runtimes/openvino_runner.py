"""OpenVINO forward passes in float32, bfloat16 (AMX or AVX-512 BF16) and int8 (NNCF), cached on disk.

The model is converted from its TensorFlow forward (`openvino.convert_model` on a concrete function,
front end included; 5 s and under 2 GB for Cnn14, where going through the ONNX export needs 11 GB), saved
as OpenVINO IR under the cache keyed by the weights' hash, and compiled for each input shape.
"""

import collections
import hashlib
import os
import shutil
import tempfile
import warnings

import numpy as np

from keras_panns.errors import RuntimeUnavailableError
from keras_panns.runtimes.fingerprint import cache_key

#: How many Convolution/MatMul nodes, in graph order, int8 leaves in float: the DFT and mel projections
#: of the front end (power spectra from 1e-10 to 1e6 do not survive int8) and the first conv block.
INT8_FLOAT_NODES = 4
MAX_COMPILED_SHAPES = 8
#: How long a process waits for another one compiling into the same blob cache before compiling uncached.
BLOB_LOCK_TIMEOUT_S = 600
_OV_TYPES = {"float32": "f32", "bfloat16": "bf16"}


def import_openvino():
    """The `openvino` module, or a `RuntimeUnavailableError` naming the extra that installs it."""
    from keras_panns.runtimes import registry

    try:
        import openvino
    except ImportError as exc:
        raise RuntimeUnavailableError(registry.get("openvino").missing() or str(exc)) from exc
    return openvino


def bfloat16_supported(core):
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def check_precision(core, precision):
    """Raises a `RuntimeUnavailableError` naming the CPU flag a precision lacks here."""
    from keras_panns.runtimes import cpu

    if precision == "bfloat16" and not bfloat16_supported(core):
        raise RuntimeUnavailableError(
            f"bfloat16 needs a CPU with amx_bf16 or avx512_bf16; this one ({cpu.cpu_info()[0]}) has neither "
            f"(flags: {' '.join(cpu.matrix_flags()) or 'none of ' + ' '.join(cpu.MATRIX_FLAGS)})"
        )


def _atomic_save(openvino, ov_model, path):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=directory, prefix=".partial-")
    try:
        target = os.path.join(scratch, os.path.basename(path))
        openvino.save_model(ov_model, target, compress_to_fp16=False)
        os.replace(target[:-4] + ".bin", path[:-4] + ".bin")  # the weights first: the .xml marks completion
        os.replace(target, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def float_model(model, cache_dir, key=None):
    """The model's float32 OpenVINO IR (dynamic batch and length), converted once and cached under `cache_dir`."""
    openvino = import_openvino()
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeUnavailableError(
            "runtime 'openvino' converts the TensorFlow forward; run with "
            "KERAS_BACKEND=tensorflow (or use --runtime keras)"
        )
    key = key or cache_key(model)
    path = os.path.join(cache_dir, "openvino", f"{key}-{openvino.__version__.split('-')[0]}", "float32.xml")
    if os.path.exists(path):
        return openvino.Core().read_model(path), path
    import tensorflow as tf

    function = tf.function(lambda waveform: model(waveform, training=False)).get_concrete_function(
        tf.TensorSpec([None, None], tf.float32, name="waveform")
    )
    ov_model = openvino.convert_model(function)
    _atomic_save(openvino, ov_model, path)
    return openvino.Core().read_model(path), path


def _clips_hash(clips):
    digest = hashlib.blake2b(digest_size=8)
    for clip in clips:
        digest.update(np.ascontiguousarray(clip, np.float32).data)
    return digest.hexdigest()


def int8_model(model, cache_dir, clips, key=None):
    """The model quantized to int8 by NNCF on `clips` (front end and first conv block kept float), cached."""
    openvino = import_openvino()
    try:
        import nncf
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "int8 with OpenVINO needs the nncf package: pip install 'keras-panns[openvino]'"
        ) from exc
    if not clips:
        raise RuntimeUnavailableError(
            "int8 needs calibration audio (--calibration DIR_OR_FILE, or "
            "calibration=[paths]): a few dozen clips like those you will tag"
        )
    ov_float, float_path = float_model(model, cache_dir, key)
    path = os.path.join(os.path.dirname(float_path), f"int8-{_clips_hash(clips)}.xml")
    if os.path.exists(path):
        return openvino.Core().read_model(path), path
    matmuls = [
        op.get_friendly_name() for op in ov_float.get_ordered_ops() if op.get_type_name() in ("Convolution", "MatMul")
    ]
    quantized = nncf.quantize(
        ov_float,
        nncf.Dataset(clips, lambda clip: np.asarray(clip, np.float32)[None]),
        subset_size=len(clips),
        ignored_scope=nncf.IgnoredScope(names=matmuls[:INT8_FLOAT_NODES]),
    )
    _atomic_save(openvino, quantized, path)
    return openvino.Core().read_model(path), path


class OpenVINORunner:
    """Runs an OpenVINO IR on the CPU; `runner(batch)` returns the outputs by name as numpy arrays.

    Args:
        model: the Keras PANNs model (for its input checks and output names).
        precision: `"float32"`, `"bfloat16"` or `"int8"`.
        cache_dir: str. Where converted and quantized IR files are kept.
        calibration: list of float32 clips at the model's rate (int8 only).
        threads: int or None. Inference threads (None: every core).

    Example:
    ```python
    runner = OpenVINORunner(model, "float32", cache_dir="/tmp/cache")
    runner(np.zeros((1, 320000), "float32"))["clipwise_output"].shape   # (1, 527)
    ```
    """

    runtime = "openvino"

    def __init__(self, model, precision, cache_dir, calibration=None, threads=None, key=None, ir_path=None):
        openvino = import_openvino()
        from keras_panns.runtimes.threads import resolve_threads

        self.model = model
        self.precision = precision
        self._core = openvino.Core()
        check_precision(self._core, precision)
        self._blob_dir = os.path.join(cache_dir, "openvino", "compiled")
        self._core.set_property({"CACHE_DIR": self._blob_dir})
        if ir_path is not None:  # a compiled file found without the Keras model (runtimes.compiled)
            self._ov_model, self.path = self._core.read_model(ir_path), ir_path
        elif precision == "int8":
            self._ov_model, self.path = int8_model(model, cache_dir, calibration, key)
        else:
            self._ov_model, self.path = float_model(model, cache_dir, key)
        # int8 runs its float parts (the front end) in float32; float32 must never silently become bf16,
        # which OpenVINO picks by itself on AMX CPUs.
        self._config = {
            "INFERENCE_PRECISION_HINT": _OV_TYPES.get(precision, "f32"),
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": resolve_threads(threads),
        }
        self._names = [port.get_any_name() for port in self._ov_model.outputs]
        self._compiled = collections.OrderedDict()
        self._dynamic = None

    def _request(self, shape):
        if shape not in self._compiled and len(self._compiled) < MAX_COMPILED_SHAPES:
            shaped = self._ov_model.clone()
            shaped.reshape({0: list(shape)})
            self._compiled[shape] = self._compile(shaped).create_infer_request()
        if shape in self._compiled:
            return self._compiled[shape]
        if self._dynamic is None:
            self._dynamic = self._compile(self._ov_model).create_infer_request()
        return self._dynamic

    def _compile(self, ov_model):
        """`compile_model`, holding a lock on the blob cache while it reads or writes a blob.

        OpenVINO writes a cached blob in place and maps it when reading, so two processes compiling the same
        model at once crash on a torn blob (SIGBUS) or fail on one the other just replaced ("cannot set
        permissions: No such file or directory [...blob]"); the second process now waits and reads the
        finished blob. A cache that cannot be locked (read-only, stays locked, or filelock is not installed)
        compiles without it.
        """
        if self._blob_dir is not None:
            try:
                import filelock
            except ImportError:
                return self._uncached(ov_model, "filelock is not installed: pip install 'keras-panns[openvino]'")
            try:
                os.makedirs(self._blob_dir, exist_ok=True)
                with filelock.FileLock(os.path.join(self._blob_dir, ".lock"), timeout=BLOB_LOCK_TIMEOUT_S):
                    return self._core.compile_model(ov_model, "CPU", self._config)
            except (OSError, filelock.Timeout) as exc:
                return self._uncached(ov_model, str(exc))
        return self._core.compile_model(ov_model, "CPU", self._config)

    def _uncached(self, ov_model, why):
        warnings.warn(f"compiling without OpenVINO's blob cache in {self._blob_dir} ({why})", stacklevel=3)
        self._blob_dir = None
        self._core.set_property({"CACHE_DIR": ""})
        return self._core.compile_model(ov_model, "CPU", self._config)

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, np.float32)
        self.model.check_input_length(batch.shape[-1])
        request = self._request(tuple(batch.shape))
        request.infer({0: batch})
        return {name: np.array(request.get_output_tensor(i).data) for i, name in enumerate(self._names)}

    def describe(self):
        return f"openvino {self.precision} ({self.path})"


def build(model, precision, options, context):
    """The registry's builder (`registry.Runtime.build`): an `OpenVINORunner`.

    Example:
    ```python
    registry.get("openvino").build(model, "float32", RuntimeOptions(), context)
    ```
    """
    return OpenVINORunner(
        model, precision, context.cache_root, list(context.calibration_clips), options.threads, context.key
    )


def load_compiled(path, precision, options, model):
    """The registry's loader (`registry.Runtime.load_compiled`): an `OpenVINORunner` of a cached IR, no Keras.

    Example:
    ```python
    load_compiled("/cache/openvino/k-2025/float32.xml", "float32", RuntimeOptions(), compiled_model)
    ```
    """
    cache_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))  # <root>/openvino/<key>/
    return OpenVINORunner(model, precision, cache_root, threads=options.threads, ir_path=path)
