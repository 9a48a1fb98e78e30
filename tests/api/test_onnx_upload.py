#!/usr/bin/python3
"""ONNX files through POST /v1/models: a good one becomes a model like any
other (graph layer table, predict, download); every bad one is refused whole
with a 4xx that names the problem, and leaves no model row and no file; the
?preprocess= option is checked against the network's input."""
import io
import json
import os
import tempfile
import urllib.parse

import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np

from harness import ROOT, Server, check, expect_error, main

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "onnx")
server = None


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def stored_models():
    """Model rows and model files: a refused upload must leave neither."""
    rows = [m["id"] for m in server.get("/v1/models?limit=100").json()["data"]]
    files = sorted(os.listdir(os.path.join(server.data_dir, "models")))
    return rows, files


def test_tiny_network_imports_as_a_graph():
    r = server.upload("/v1/models", {"file": ("tiny.onnx", fixture("tiny.onnx"))})
    check(r.status == 201, "upload: %r" % r)
    m = r.json()
    check(m["source"] == "onnx" and m["name"] == "tiny.onnx" and m["input_shape"] == [3, 8, 8], m)
    check(m["output_shape"] == [5] and m["params"] == 441 and m["preprocessing"] is None, m)
    by_name = {layer["name"]: layer for layer in m["layers"]}
    check(by_name["add_shift"]["type"] == "add" and by_name["add_shift"]["inputs"] == ["conv", "shift"],
          by_name["add_shift"])
    check(by_name["conv"]["inputs"] == ["input"] and by_name["shift"]["inputs"] == [], m["layers"])
    # The stored file is our own format: it downloads and loads as such.
    content = server.get("/v1/models/%s/content" % m["id"])
    check(content.status == 200 and content.body[8:9] == b"{", "download: %r" % content)
    again = server.post("/v1/models", content.body, content_type="application/octet-stream")
    check(again.status == 201 and again.json()["source"] == "upload", "re-upload: %r" % again)
    x = np.linspace(-1, 1, 3 * 8 * 8).tolist()
    p1 = server.post("/v1/models/%s/predict" % m["id"], {"inputs": [x]})
    p2 = server.post("/v1/models/%s/predict" % again.json()["id"], {"inputs": [x]})
    check(p1.status == 200 and p1.json()["data"] == p2.json()["data"], "%r %r" % (p1, p2))


def test_raw_application_onnx_body():
    r = server.post("/v1/models?name=raw", fixture("unsorted.onnx"), content_type="application/onnx")
    check(r.status == 201 and r.json()["source"] == "onnx" and r.json()["name"] == "raw", "%r" % r)


# (fixture, status, words the message must contain)
BAD = [
    ("bad/unsupported_op.onnx", 422, ["node '/act/Sin' (Sin)", "op type 'Sin' is not supported", "Conv"]),
    ("bad/unsupported_attr.onnx", 422, ["node '/pool/MaxPool' (MaxPool): storage_order 1 is not supported"]),
    ("bad/two_inputs.onnx", 422, ["more than one input"]),
    ("bad/kernel_too_big.onnx", 422, ["kernel 3x3", "does not fit the input 2x2"]),
    ("bad/cycle.onnx", 422, ["cycle"]),
    ("bad/huge_tensor.onnx", 413, ["tensor 'huge' declares", "budget"]),
]


def test_bad_files_are_refused_whole():
    before = stored_models()
    for name, status, words in BAD:
        r = server.upload("/v1/models", {"file": (os.path.basename(name), fixture(name))})
        err = expect_error(r, status, "invalid_onnx", "file")
        check(err["message"].startswith("%s: cannot import this ONNX file: " % os.path.basename(name)), err)
        for w in words:
            check(w in err["message"], "%s: %r lacks %r" % (name, err["message"], w))
    # Truncated in the middle of the weights: the protobuf reader says so.
    data = fixture("tiny.onnx")
    r = server.upload("/v1/models", {"file": ("cut.onnx", data[:len(data) * 2 // 3])})
    expect_error(r, 422, "invalid_onnx", "file")
    check(stored_models() == before, "a refused upload left something: %r -> %r" % (before, stored_models()))


def test_external_data_is_refused():
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    folder = tempfile.mkdtemp(prefix="ft-onnx-ext-")
    path = os.path.join(folder, "ext.onnx")
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="ext.bin",
                    size_threshold=0)
    with open(path, "rb") as f:
        r = server.upload("/v1/models", {"file": ("ext.onnx", f.read())})
    err = expect_error(r, 422, "invalid_onnx", "file")
    check("external data (tensor 'W')" in err["message"], err)


def test_preprocess_option():
    tiny = fixture("tiny.onnx")
    r = server.upload("/v1/models", {"file": ("tiny.onnx", tiny)}, query="?preprocess=imagenet")
    check(r.status == 201, "%r" % r)
    # The preset keeps ImageNet's proportions at the network's 8x8 input.
    pp = r.json()["preprocessing"]
    check(pp["per"] == "channel" and pp["crop"] == [8, 8] and pp["resize"] == 9 and len(pp["mean"]) == 3, pp)
    before = stored_models()
    for query, param, words in [
            ('{"per": "channel", "crop": [16, 16]}', "preprocess", "crops to 16x16 but the model's input is 8x8"),
            ('{"color": "gray"}', "preprocess", "color has 1 channels but the model's input 3"),
            ('{"scale": -1}', "preprocess.scale", "must be a positive number"),
            ("vgg", "preprocess", "unknown preprocessing preset 'vgg'"),
            ('{"crop": ', "preprocess", "not valid JSON")]:
        r = server.upload("/v1/models", {"file": ("tiny.onnx", tiny)},
                          query="?preprocess=" + urllib.parse.quote(query))
        err = expect_error(r, 422, "invalid_preprocess", param)
        check(words in err["message"], "%s: %r" % (query, err))
    check(stored_models() == before, "a refused preprocess left something")


def setup():
    global server
    server = Server()


def teardown():
    server.close()


if __name__ == "__main__":
    main(globals())
