#!/usr/bin/python3
"""Writes the small ONNX fixtures of tests/unit/test_onnx_read.c into
tests/fixtures/onnx/ (committed; rerun after changing this script):

  tiny.onnx      a conv net with every attribute kind and initializer type
                 the reader converts (FLOAT, DOUBLE, FLOAT16, INT64), a
                 symbolic batch dim, and a Constant node.
  unsorted.onnx  the same graph with its nodes in reverse file order, which
                 the reader must put back in topological order.

Values are formulas (w[i] = (i % 17 - 8) / 16), so the C test checks them
without a copy. Needs /usr/bin/python3 with python3-onnx (and numpy).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")


def ramp(shape, dtype):
    n = int(np.prod(shape))
    return ((np.arange(n) % 17 - 8) / 16).astype(dtype).reshape(shape)


def build(reverse):
    inits = [
        numpy_helper.from_array(ramp((4, 3, 3, 3), np.float32), "conv.weight"),
        numpy_helper.from_array(ramp((4,), np.float64), "conv.bias"),  # DOUBLE
        numpy_helper.from_array(ramp((4, 1, 1), np.float16), "shift"),  # FLOAT16
        numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "flat_shape"),  # INT64
        numpy_helper.from_array(ramp((5, 64), np.float32), "fc.weight"),
    ]
    # float_data instead of raw_data: the reader takes both.
    inits.append(helper.make_tensor("fc.bias", TensorProto.FLOAT, [5], [0.5, -0.25, 0.125, 1.0, -1.0]))
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=1),
        helper.make_node("Add", ["c", "shift"], ["a"], name="add_shift"),
        helper.make_node("LeakyRelu", ["a"], ["r"], name="lrelu", alpha=0.125),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Pad", ["p", "pads"], ["pp"], name="pad", mode="constant"),
        helper.make_node("Constant", [], ["pads"], name="pads_const",
                         value=numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 0, 0], dtype=np.int64))),
        helper.make_node("Reshape", ["pp", "flat_shape"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc",
                         alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Clip", ["y", "", "clip_max"], ["z"], name="clip"),
        helper.make_node("Constant", [], ["clip_max"], name="clip_const", value_float=6.0),
    ]
    # Topological order for the checker; reversed for unsorted.onnx.
    order = [5, 9, 0, 1, 2, 3, 4, 6, 7, 8]
    nodes = [nodes[i] for i in order]
    if reverse:
        nodes.reverse()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 5])
    graph = helper.make_graph(nodes, "tiny", [x], [z], initializer=inits)
    model = helper.make_model(graph, producer_name="gen_onnx_fixtures",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    if not reverse:
        onnx.checker.check_model(model)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, rev in (("tiny.onnx", False), ("unsorted.onnx", True)):
        path = os.path.join(OUT, name)
        onnx.save(build(rev), path)
        print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
