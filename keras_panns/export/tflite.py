"""TFLite (LiteRT) conversion with builtin ops only and a float32 front end."""

import tempfile

import numpy as np

from keras_panns.errors import ExportError
from keras_panns.layers import log_mel_layers
from keras_panns.runtimes.sessions import SIGNATURE, tflite_runner

# Op types of the log-mel front end (both DFTs); PANNs bodies use none of them on their int8 path.
FLOAT_OPS = (
    "MIRROR_PAD",
    "RESHAPE",
    "SQUEEZE",
    "SPLIT",
    "SPLIT_V",
    "SQUARE",
    "MAXIMUM",
    "LOG",
    "RFFT2D",
    "REAL",
    "IMAG",
    "GATHER",
    "STRIDED_SLICE",
)


def _saved_model(model, directory, samples, serve, batch=None):
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SIGNATURE, serve, input_signature=[tf.TensorSpec((batch, samples), tf.float32, name="waveform")]
    )
    archive.write_out(directory, verbose=False)


def _converter(saved_model):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[SIGNATURE])
    # Builtins only: Flex (select TF) ops need a special runtime that phones and ai_edge_litert lack.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def keep_float(quantized, reference, is_front_end):
    """Puts the float32 constants of `reference` back into `quantized` wherever `is_front_end(name)`.

    TFLite's float16 and dynamic-range quantizers have no per-layer opt-out.
    They turn every float constant into float16 or int8, including the log-mel
    front end's `amin` (1e-10, which is 0 in float16, so silence becomes
    -inf and then NaN) and its DFT kernels (hybrid int8 convolution of the
    raw waveform). The constants are restored from the float conversion of
    the same graph (tensor names match) and the DEQUANTIZE ops that fed
    them are dropped.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    qmodel = flatbuffer_utils.convert_bytearray_to_object(quantized)
    fmodel = flatbuffer_utils.convert_bytearray_to_object(reference)
    # The quantizer renumbers tensor names (a kernel may take its bias's name), so a quantized constant is
    # matched to the float constant of the same shape whose values it approximates best.
    candidates = [
        (t, _values(fmodel, t))
        for t in fmodel.subgraphs[0].tensors
        if t.type == schema.TensorType.FLOAT32 and is_front_end(t.name.decode()) and _values(fmodel, t) is not None
    ]
    graph = qmodel.subgraphs[0]
    restored = set()
    for index, tensor in enumerate(graph.tensors):
        if tensor.type == schema.TensorType.FLOAT32 or not is_front_end(tensor.name.decode()):
            continue
        approx = _values(qmodel, tensor)
        if approx is None:
            continue
        same_shape = [(t, v) for t, v in candidates if v.shape == approx.shape]
        if not same_shape:
            continue
        source, _ = min(same_shape, key=lambda tv: float(np.abs(tv[1] - approx).max()))
        qmodel.buffers[tensor.buffer].data = np.array(fmodel.buffers[source.buffer].data, dtype=np.uint8)
        tensor.type, tensor.quantization = schema.TensorType.FLOAT32, None
        restored.add(index)
    dequantize = {
        i
        for i, code in enumerate(qmodel.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE
    }
    rewire, kept = {}, []
    for op in graph.operators:
        if op.opcodeIndex in dequantize and op.inputs[0] in restored:
            rewire[op.outputs[0]] = op.inputs[0]
        else:
            kept.append(op)
    for op in kept:
        op.inputs = np.array([rewire.get(int(i), int(i)) for i in op.inputs], dtype=np.int32)
    graph.operators = kept
    graph.outputs = np.array([rewire.get(int(i), int(i)) for i in graph.outputs], dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(qmodel))


def _values(model, tensor):
    """A constant tensor's values as float32 (dequantized), or None if it is not a constant."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
    if tensor.type == schema.TensorType.FLOAT32:
        return np.frombuffer(raw, np.float32).reshape(shape)
    if tensor.type == schema.TensorType.FLOAT16:
        return np.frombuffer(raw, np.float16).astype(np.float32).reshape(shape)
    if tensor.type == schema.TensorType.INT8 and tensor.quantization is not None:
        q = tensor.quantization
        values = np.frombuffer(raw, np.int8).astype(np.float32).reshape(shape)
        axis_shape = [1] * len(shape)
        if len(q.scale) > 1:
            axis_shape[q.quantizedDimension] = len(q.scale)
        scale = np.asarray(q.scale, np.float32).reshape(axis_shape)
        zero = np.asarray(q.zeroPoint, np.float32).reshape(axis_shape)
        return (values - zero) * scale
    return None


def _tensor_names(buffer, keep):
    from ai_edge_litert.interpreter import Interpreter

    return [d["name"] for d in Interpreter(model_content=buffer).get_tensor_details() if keep(d["name"])]


def op_names(buffer):
    """Operator types used by a TFLite model, sorted."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=buffer)
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


def convert(
    model,
    path,
    samples,
    quantize,
    calibration_clips,
    serve,
    metadata=True,
    threads=None,
    batch=None,
    operating_points=None,
):
    """Writes `serve` (`model`'s forward) as TFLite to `path`; returns (op names, runner for validation).

    `metadata` adds TFLite Model
    Metadata (see `keras_panns.export.metadata`), with `operating_points`'
    score calibration if given; `batch` fixes the batch size (None: dynamic).
    """
    import tensorflow as tf

    prefixes = [layer.name for layer in log_mel_layers(model)]

    def is_front_end(name):
        return any(f"/{p}" in name or name.startswith(p) for p in prefixes)

    with tempfile.TemporaryDirectory() as saved_model:
        _saved_model(model, saved_model, samples, serve, batch)
        try:
            buffer = _converter(saved_model).convert()
            if quantize != "none":
                reference = buffer
                converter = _converter(saved_model)
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                if quantize == "float16":
                    converter.target_spec.supported_types = [tf.float16]
                if quantize == "int8":
                    buffer = _int8(converter, calibration_clips, _tensor_names(reference, is_front_end))
                else:
                    buffer = keep_float(converter.convert(), reference, is_front_end)
        except ExportError:
            raise
        except Exception as exc:  # the converter raises many types, all meaning "cannot convert"
            raise ExportError(f"TFLite conversion failed: {exc}") from exc
    ops = op_names(buffer)
    foreign = [op for op in ops if op.startswith("Flex") or op == "CUSTOM" or op.startswith("DELEGATE")]
    if foreign:
        raise ExportError(f"the TFLite model needs non-builtin ops {foreign}")
    if metadata:
        from keras_panns.export.metadata import write_metadata

        buffer = write_metadata(
            buffer,
            model,
            seconds=None if samples is None else samples / model.sample_rate,
            signature_key=SIGNATURE,
            operating_points=operating_points,
        )
    with open(path, "wb") as f:
        f.write(buffer)
    return ops, tflite_runner(path, threads)


def _int8(converter, clips, front_end_nodes):
    import tensorflow as tf

    def representative():
        for clip in clips:
            yield {"waveform": clip[None]}

    converter.representative_dataset = representative
    # Selective quantization: the front end stays float, the log-mel after it and the network become int8.
    # Node names alone miss the reshape/split between the DFT and the power spectrum (the quantizer treats
    # them as pass-through and renames them), so those op types are kept float as well.
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=front_end_nodes, denylisted_ops=list(FLOAT_OPS)
    )
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative, debug_options=options
    )
    return debugger.get_nondebug_quantized_model()
