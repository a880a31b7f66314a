"""The tf2onnx memory workaround of `keras_panns.export.onnx_export`, and its canary.

When the canary fails, tf2onnx rebuilds its NodeProtos itself (or protobuf
frees deleted submessages): delete `_fresh_node_protos` and this file.
"""

import numpy as np
from google.protobuf.internal import api_implementation
from tf2onnx.graph import Graph, Node

from keras_panns.export.onnx_export import _fresh_node_protos


def _graph_with_a_constant():
    graph = Graph([], opset=17)
    node = graph.make_const("weights", np.arange(12, dtype=np.float32).reshape(3, 4))
    return graph, node


def test_tf2onnx_still_clears_node_protos_in_place():
    # Both halves of the leak: tf2onnx reuses the node's message, and upb keeps what is deleted from it in the
    # message's arena (Cnn14's ONNX export held 11 GB instead of 3).
    assert api_implementation.Type() == "upb"
    graph, node = _graph_with_a_constant()
    before = node.op
    graph.update_proto()
    assert node.op is before


def test_fresh_node_protos_write_the_same_nodes_and_restore_tf2onnx():
    original = Node.update_proto
    graph, node = _graph_with_a_constant()
    graph.update_proto()
    expected = node.op.SerializeToString()
    with _fresh_node_protos():
        graph, node = _graph_with_a_constant()
        before = node.op
        graph.update_proto()
        graph.update_proto()
        assert node.op is not before
        assert node.op.SerializeToString() == expected
    assert Node.update_proto is original
