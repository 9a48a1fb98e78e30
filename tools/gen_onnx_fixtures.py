#!/usr/bin/python3
"""Writes the small ONNX fixtures of tests/unit/test_onnx_read.c into
tests/fixtures/onnx/ (committed; rerun after changing this script):

  tiny.onnx      a conv net with every attribute kind and initializer type
                 the reader converts (FLOAT, DOUBLE, FLOAT16, INT64), a
                 symbolic batch dim, and a Constant node.
  unsorted.onnx  the same graph with its nodes in reverse file order, which
                 the reader must put back in topological order.
  node/test_constant_nodes/  a conformance-style test (model.onnx,
                 test_data_set_0/{input_0,output_0}.pb, outputs by numpy) of
                 Constant's value, value_float, value_floats and value_ints,
                 which libonnx-testdata's only Constant test (no runtime
                 input) cannot show; tests/unit/test_onnx_ops.c runs it.
  node/test_conv_bn_relu/  Conv -> BatchNormalization -> Relu, which the
                 importer folds into one conv2d layer (outputs by torch).
  node/test_softmax_opset11/  Softmax before opset 13 (over all dims from
                 the axis on) beside a node the output does not need.
  node/test_names/  node names the graph core cannot take as they are
                 (empty, duplicated, 200 bytes, with spaces and '#').
  bad/*.onnx     files the importer must refuse, one defect each (an
                 unsupported op, an unsupported attribute, two inputs, a
                 kernel bigger than its input, a cycle, a huge declared
                 tensor); tests/unit/test_onnx_import_bad.h has the messages.

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


def constant_nodes():
    """y = reshape(x * value_floats + value, value_ints) clipped at value_float."""
    x = ramp((2, 3, 2, 2), np.float32) * 5
    scale = np.array([0.5, -2.0], dtype=np.float32)
    shift = ramp((3, 1, 1), np.float32)
    y = np.minimum((x * scale + shift).reshape(2, 12), np.float32(1.25))
    nodes = [
        helper.make_node("Constant", [], ["scale"], name="c_floats", value_floats=scale.tolist()),
        helper.make_node("Constant", [], ["shift"], name="c_tensor", value=numpy_helper.from_array(shift)),
        helper.make_node("Constant", [], ["shape"], name="c_ints", value_ints=[0, 12]),
        helper.make_node("Constant", [], ["hi"], name="c_float", value_float=1.25),
        helper.make_node("Mul", ["x", "scale"], ["m"], name="mul"),
        helper.make_node("Add", ["m", "shift"], ["a"], name="add"),
        helper.make_node("Reshape", ["a", "shape"], ["r"], name="reshape"),
        helper.make_node("Clip", ["r", "", "hi"], ["y"], name="clip"),
    ]
    graph = helper.make_graph(nodes, "constant_nodes",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])])
    model = helper.make_model(graph, producer_name="gen_onnx_fixtures",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    save_node_test("test_constant_nodes", model, x, y)


def conv_model(nodes, inputs, inits, check=True, hw=8):
    """x [N, 3, hw, hw] -> nodes -> y, with a 3x3 conv weight W and the given extras."""
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, hw, hw]) for n in inputs]
    inits = [numpy_helper.from_array(ramp((4, 3, 3, 3), np.float32), "W")] + inits
    graph = helper.make_graph(nodes, "bad", ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6, 6])],
                              initializer=inits)
    model = helper.make_model(graph, producer_name="gen_onnx_fixtures", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    if check:
        onnx.checker.check_model(model)
    return model


def bad_files():
    conv = helper.make_node("Conv", ["x", "W"], ["c"], name="/conv1/Conv", kernel_shape=[3, 3])
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])  # 4 TiB, no data
    files = {
        "unsupported_op": conv_model([conv, helper.make_node("Sin", ["c"], ["y"], name="/act/Sin")], ["x"], []),
        "unsupported_attr": conv_model([helper.make_node("MaxPool", ["x"], ["y"], name="/pool/MaxPool",
                                                         kernel_shape=[2, 2], storage_order=1)], ["x"], []),
        "two_inputs": conv_model([conv, helper.make_node("Add", ["c", "x2"], ["y"], name="/add/Add")],
                                 ["x", "x2"], []),
        "kernel_too_big": conv_model([helper.make_node("Conv", ["x", "W"], ["y"], name="/conv1/Conv")], ["x"], [],
                                     hw=2),
        "cycle": conv_model([helper.make_node("Add", ["x", "b"], ["a"], name="/a/Add"),
                             helper.make_node("Relu", ["a"], ["b"], name="/b/Relu"),
                             helper.make_node("Relu", ["b"], ["y"], name="/c/Relu")], ["x"], [], check=False),
        "huge_tensor": conv_model([helper.make_node("Add", ["x", "huge"], ["y"], name="/add/Add")], ["x"], [huge],
                                  check=False),
    }
    d = os.path.join(OUT, "bad")
    os.makedirs(d, exist_ok=True)
    for name, model in files.items():
        onnx.save(model, os.path.join(d, name + ".onnx"))
    print(f"{d}: {len(files)} files")


def save_node_test(name, model, x, y):
    d = os.path.join(OUT, "node", name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for fname, arr in (("input_0.pb", x), ("output_0.pb", y)):
        with open(os.path.join(d, "test_data_set_0", fname), "wb") as f:
            f.write(numpy_helper.from_array(arr).SerializeToString())
    print(f"{d}: written")


def conv_bn_relu():
    import torch
    import torch.nn.functional as F
    x = ramp((2, 3, 6, 6), np.float32) * 3
    w, b = ramp((4, 3, 3, 3), np.float32), np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    scale, shift = np.array([1.5, 0.5, -1.0, 2.0], np.float32), np.array([0.25, -0.5, 0.0, 0.125], np.float32)
    mean, var = np.array([0.1, 0.2, -0.3, 0.4], np.float32), np.array([0.5, 1.0, 2.0, 0.25], np.float32)
    t = torch.from_numpy
    y = F.relu(F.batch_norm(F.conv2d(t(x).double(), t(w).double(), t(b).double(), padding=1), t(mean).double(),
                            t(var).double(), t(scale).double(), t(shift).double(), eps=1e-3)).float().numpy()
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (b, "B"), (scale, "scale"), (shift, "shift"),
                                                        (mean, "mean"), (var, "var"))]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], name="bn",
                              epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "conv_bn_relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6, 6])],
                              initializer=inits)
    model = helper.make_model(graph, producer_name="gen_onnx_fixtures", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    save_node_test("test_conv_bn_relu", model, x, y)


def names():
    x = ramp((2, 6), np.float32) * 4
    y = np.tanh(np.maximum(x, 0) + 1 / (1 + np.exp(-x)))
    nodes = [helper.make_node("Relu", ["x"], ["r"], name=""),
             helper.make_node("Sigmoid", ["x"], ["s"], name="dup"),
             helper.make_node("Add", ["r", "s"], ["a"], name="dup"),
             helper.make_node("Tanh", ["a"], ["t"], name="n" * 200),
             helper.make_node("Identity", ["t"], ["y"], name="my node #1")]
    graph = helper.make_graph(nodes, "names", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])])
    model = helper.make_model(graph, producer_name="gen_onnx_fixtures", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    save_node_test("test_names", model, x, y.astype(np.float32))


def softmax_opset11():
    x = ramp((2, 3, 4), np.float32) * 3
    e = np.exp(x.reshape(2, 12) - x.reshape(2, 12).max(axis=1, keepdims=True))
    y = (e / e.sum(axis=1, keepdims=True)).reshape(2, 3, 4).astype(np.float32)
    nodes = [helper.make_node("Relu", ["x"], ["unused"], name="dead"),
             helper.make_node("Softmax", ["x"], ["y"], name="softmax", axis=1)]
    graph = helper.make_graph(nodes, "softmax_opset11",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4])])
    model = helper.make_model(graph, producer_name="gen_onnx_fixtures", opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    save_node_test("test_softmax_opset11", model, x, y)


def main():
    softmax_opset11()
    names()
    conv_bn_relu()
    bad_files()
    constant_nodes()
    os.makedirs(OUT, exist_ok=True)
    for name, rev in (("tiny.onnx", False), ("unsorted.onnx", True)):
        path = os.path.join(OUT, name)
        onnx.save(build(rev), path)
        print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
