"""ONNX conversion (Keras -> tf2onnx), checked by onnx.checker and run with onnxruntime."""

import contextlib
import os
import tempfile

from keras_panns.errors import ExportError
from keras_panns.layers import log_mel_layers
from keras_panns.runtimes.sessions import onnx_runner

OPSET = 17


def _name_dims(model_proto):
    # tf2onnx names dynamic axes unk__N; name them for the people who read the graph.
    graph = model_proto.graph
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
        if value.name == "waveform" and len(dims) > 1 and dims[1].dim_param:
            dims[1].dim_param = "samples"
        if value.name == "framewise_output" and len(dims) > 1 and dims[1].dim_param:
            dims[1].dim_param = "frames"


def _front_end_nodes(model_proto, model):

    prefixes = [layer.name for layer in log_mel_layers(model)]
    # bn0 and the channel axis are elementwise ops on the log-mel: quantizing each of them separately
    # compounds rounding, and keeping them float costs nothing.
    prefixes += ["bn0", "add_channel_axis"]
    return [node.name for node in model_proto.graph.node if any(p in node.name for p in prefixes)]


class _Calibration:
    """onnxruntime's CalibrationDataReader over in-memory clips."""

    def __init__(self, clips):
        self._clips = iter(clips)

    def get_next(self):
        clip = next(self._clips, None)
        return None if clip is None else {"waveform": clip[None]}


def convert(model, path, samples, quantize, calibration_clips, serve, threads=None):
    """Writes `serve` (`model`'s forward) as ONNX to `path`; returns (op types, runner for validation)."""
    import onnx

    if quantize == "float16":
        raise ExportError("float16 is offered for TFLite; for ONNX use --quantize dynamic or int8")
    with tempfile.TemporaryDirectory() as scratch:
        float_path = os.path.join(scratch, "float.onnx")
        _tf2onnx(model, serve, samples, scratch, float_path)
        proto = onnx.load(float_path)
        _name_dims(proto)
        onnx.save(proto, float_path)
        if quantize == "none":
            final = float_path
        else:
            final = os.path.join(scratch, "quantized.onnx")
            _quantize(proto, model, float_path, final, quantize, calibration_clips, scratch)
        proto = onnx.load(final)
        proto.producer_name = "keras_panns"
        meta = proto.metadata_props.add()
        meta.key, meta.value = "sample_rate", str(model.sample_rate)
        meta = proto.metadata_props.add()
        meta.key, meta.value = "labels", "\n".join(model.labels)
        try:
            onnx.checker.check_model(proto, full_check=True)
        except Exception as exc:
            raise ExportError(f"the ONNX model is invalid: {exc}") from exc
        onnx.save(proto, path)
    ops = sorted({node.op_type for node in proto.graph.node})
    return ops, onnx_runner(path, threads)


@contextlib.contextmanager
def _fresh_node_protos():
    """Makes tf2onnx rebuild each node's NodeProto instead of clearing it in place.

    tf2onnx's optimizer calls `Node.update_proto` after every pass: it deletes
    the node's attributes and extends them again. Under protobuf's upb
    backend a deleted submessage stays in its parent's arena until the parent
    is freed, so every pass kept one more copy of every constant: Cnn14's
    327 MB of weights became 11 GB over 24 passes. A fresh NodeProto per call
    lets the old arena go. Canary: `test_tf2onnx_still_clears_node_protos_in_place`.
    """
    from onnx import NodeProto
    from tf2onnx.graph import Node

    original = Node.update_proto

    def update_proto(node, external_tensor_storage=None):
        old, fresh = node._op, NodeProto()
        # Everything but the inputs, outputs and attributes, which update_proto writes anew.
        for field, value in old.ListFields():
            if field.name in ("input", "output", "attribute"):
                continue
            if isinstance(value, (str, bytes, int)):
                setattr(fresh, field.name, value)
            else:
                getattr(fresh, field.name).extend(value)
        node._op = fresh
        original(node, external_tensor_storage)

    Node.update_proto = update_proto
    try:
        yield
    finally:
        Node.update_proto = original


def _tf2onnx(model, serve, samples, scratch, target):
    """Converts through tf2onnx's large-model mode, then joins the weights into one file.

    The default mode keeps every weight inside protobuf messages that its
    optimizer re-serializes, which needs more than 24 GB for Cnn14; the
    large-model mode keeps weights outside (11 GB).
    """
    import zipfile

    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx

    try:  # tf2onnx 1.17 still uses numpy aliases removed in numpy 2; Keras ships the patch
        from keras.src.export.tf2onnx_lib import patch_tf2onnx

        patch_tf2onnx()
    except ImportError:
        pass
    signature = [tf.TensorSpec((None, samples), tf.float32, name="waveform")]
    archive = keras.export.ExportArchive()
    archive.track(model)
    function = archive.add_endpoint("serve", serve, input_signature=signature)
    bundle = os.path.join(scratch, "large.zip")
    try:
        with _fresh_node_protos():
            tf2onnx.convert.from_function(function, signature, opset=OPSET, large_model=True, output_path=bundle)
    except Exception as exc:  # tf2onnx raises many types, all meaning "cannot convert"
        raise ExportError(f"ONNX conversion failed: {exc}") from exc
    unpacked = os.path.join(scratch, "large")
    with zipfile.ZipFile(bundle) as archive_file:
        archive_file.extractall(unpacked)
    proto = onnx.load(os.path.join(unpacked, "__MODEL_PROTO.onnx"), load_external_data=True)
    onnx.save(proto, target)


def _quantize(proto, model, source, target, quantize, clips, scratch):
    from onnxruntime import quantization

    # The front end's dynamic range (power spectra from 1e-10 to 1e6) does not survive int8: keep it float.
    exclude = _front_end_nodes(proto, model)
    prepared = os.path.join(scratch, "prepared.onnx")
    quantization.quant_pre_process(source, prepared, skip_symbolic_shape=True)
    if quantize == "dynamic":
        quantization.quantize_dynamic(
            prepared, target, weight_type=quantization.QuantType.QInt8, nodes_to_exclude=exclude
        )
    else:
        quantization.quantize_static(
            prepared,
            target,
            _Calibration(clips),
            nodes_to_exclude=exclude,
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.Percentile,
        )
