#!/usr/bin/python3
"""GET /v1/models/{id}/content?format=onnx and `finetuned export`: every
kind of model comes out as an ONNX file that onnx.checker (python3-onnx)
accepts and onnxruntime-node (tools/ci/ort_run.js) runs to the outputs of
our /predict on the same rows, within 1e-4 (max errors printed):

- a native CNN and an MLP with gelu and a sigmoid output, each trained by
  a short job;
- a "zoo" model written here as a model file, with every layer type and
  activation and the graph options (conv groups, dilation, asymmetric
  padding, pools with ceil_mode, count_include_pad and dilation, global
  pool without keepdims, a softmax layer over one axis and over flattened
  dims, per-sample broadcasting between ranks);
- the committed residual network (tests/fixtures/onnx) fine-tuned with a
  new head by a job, and torchvision's mobilenet_v3_small (random weights,
  seed 0, written by tools/fixtures/torchvision_onnx.py into the cache
  test_onnx_networks.py shares).

The file's preprocessing (metadata "finetuned.preprocessing") is applied to
the raw rows before ORT runs them, as predict does. Exports the importer
reads back are uploaded again and must predict the same (round trip)."""
import hashlib
import json
import os
import struct
import subprocess
import urllib.parse

import numpy as np
import onnx

from harness import ROOT, Server, check, csv_text, expect_error, main, submit, upload_fashion

BUILD = os.path.join(ROOT, os.environ.get("FT_BUILD", "build"))
ORT = os.path.join(ROOT, "tools", "ci", "ort_run.js")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "onnx", "fmnist_resnet_0to4")
NETWORKS = os.path.join(ROOT, "tools", "fixtures", "torchvision_onnx.py")
PHOTOS = os.path.join(ROOT, "tools", "fixtures", "fmnist_photos.py")
with open(NETWORKS, "rb") as _f:
    CACHE = os.path.join(BUILD, "onnx-networks-" + hashlib.sha256(_f.read()).hexdigest()[:12])
TOL = 1e-4
server = None
S = {}


def setup():
    global server
    # A mobilenet row is 150528 numbers of JSON.
    server = Server("--blas-threads", "2", "--max-json-bytes", str(16 << 20))


def teardown():
    if server:
        server.close()


def export(model_id):
    """The ONNX download of a model, checked by onnx.checker; the ModelProto."""
    r = server.get("/v1/models/%s/content?format=onnx" % model_id)
    check(r.status == 200, "export %s: %r" % (model_id, r))
    check(r.headers.get("Content-Type") == "application/onnx", "Content-Type %r" % r.headers.get("Content-Type"))
    check(r.headers.get("Content-Disposition") == 'attachment; filename="%s.onnx"' % model_id,
          "Content-Disposition %r" % r.headers.get("Content-Disposition"))
    proto = onnx.load_from_string(r.body)
    onnx.checker.check_model(proto, full_check=True)
    check(proto.ir_version == 8 and [(o.domain, o.version) for o in proto.opset_import] == [("", 17)],
          "ir %d opsets %r" % (proto.ir_version, proto.opset_import))
    graph = proto.graph
    check([i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"],
          "inputs %r outputs %r" % (graph.input, graph.output))
    check(graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch", "batch dim %r" % graph.input[0])
    return r.body, proto


def model_layers(model_id):
    return server.get("/v1/models/" + model_id).json()["layers"]


def check_names(proto, model_id):
    """Node names are our layer names; initializers carry our tensor names."""
    layers = model_layers(model_id)
    nodes = {n.name for n in proto.graph.node}
    missing = [l["name"] for l in layers if l["name"] not in nodes]
    check(not missing, "layers without a node of their name: %r" % missing)
    inits = {i.name for i in proto.graph.initializer}
    for l in layers:
        if l["params"] and l["type"] in ("dense", "conv2d", "batchnorm"):
            check({l["name"] + ".weight", l["name"] + ".bias"} <= inits, "initializers of %s" % l["name"])


def meta(proto):
    return {p.key: json.loads(p.value) for p in proto.metadata_props}


def preprocess(proto, rows):
    """Raw rows -> the network's input, from the file's own metadata, as
    predict does for JSON rows: x * scale, then (x - mean) / std per
    feature, or per channel for the image form."""
    pp = meta(proto).get("finetuned.preprocessing")
    x = np.asarray(rows, np.float32).reshape(len(rows), -1)
    if not pp:
        return x
    x = x * np.float32(pp.get("scale", 1.0))
    if "mean" in pp:
        mean, std = np.asarray(pp["mean"], np.float32), np.asarray(pp["std"], np.float32)
        if pp.get("per") == "channel":
            per = x.shape[1] // len(mean)
            mean, std = np.repeat(mean, per), np.repeat(std, per)
        x = (x - mean) / std
    return x.astype(np.float32)


def ort(onnx_bytes, x, name):
    base = os.path.join(server.tmp, name)
    with open(base + ".onnx", "wb") as f:
        f.write(onnx_bytes)
    np.asarray(x, "<f4").tofile(base + ".in")
    p = subprocess.run(["node", ORT, base + ".onnx", base + ".in", base + ".out"], capture_output=True, text=True,
                       timeout=300)
    check(p.returncode == 0, "ort_run.js: %s" % p.stderr)
    return np.fromfile(base + ".out", "<f4").reshape(len(x), -1)


def predict(model_id, rows):
    """Our outputs for raw rows: class probabilities in class order, or values."""
    r = server.post("/v1/models/%s/predict" % model_id, {"inputs": [list(map(float, np.ravel(r))) for r in rows]})
    check(r.status == 200, "predict: %r" % r)
    out = []
    for d in r.json()["data"]:
        if "values" in d:
            out.append(d["values"])
        elif len(d["probabilities"]) == 2 and S.get("binary") == model_id:
            out.append([list(d["probabilities"].values())[1]])
        else:
            out.append(list(d["probabilities"].values()))
    return np.asarray(out, np.float64)


def agree(what, got, want, tol=TOL):
    err = np.abs(got.astype(np.float64) - want).max()
    print("  %-28s max |ort - predict| %.2e over %s" % (what, err, got.shape), flush=True)
    check(got.shape == want.shape, "%s: shapes %s and %s" % (what, got.shape, want.shape))
    check(err <= tol, "%s: ORT and predict differ by %.3g" % (what, err))


def roundtrip(what, onnx_bytes, model_id):
    """Upload the export again: the re-imported model predicts the same."""
    r = server.upload("/v1/models", {"file": (model_id + ".onnx", onnx_bytes)})
    check(r.status == 201, "%s: re-import %r" % (what, r))
    again = r.json()["id"]
    S.setdefault("reimported", {})[what] = again
    return again


def check_model(what, model_id, rows, roundtrip_ok=True):
    body, proto = export(model_id)
    check_names(proto, model_id)
    want = predict(model_id, rows)
    # An output that hardly moves with the input would agree whatever the file computed.
    spread = np.ptp(want, axis=0).max()
    print("  %-28s outputs spread %.3g across the rows" % (what, spread))
    check(spread > 10 * TOL, "%s: outputs barely depend on the input: %r" % (what, want))
    agree(what, ort(body, preprocess(proto, rows), what), want)
    if roundtrip_ok:
        again = roundtrip(what, body, model_id)
        # The file carries its preprocessing as metadata only: the re-imported
        # model gets the preprocessed rows.
        got = predict(again, preprocess(proto, rows))
        agree(what + " round trip", got, want)
    return proto


# ---- native models trained by a short job ----

def test_native_cnn():
    ds = upload_fashion(server, 300, classes=[0, 1, 2])
    arch = {"input": [1, 28, 28], "layers": [
        {"name": "conv1", "type": "conv2d", "filters": 6, "kernel": 3, "padding": 1, "activation": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2, "activation": "tanh"},
        {"type": "avgpool2d", "size": 2, "padding": 1},
        {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
        {"type": "dense", "units": 16, "activation": "leaky_relu"},
        {"name": "out", "type": "dense", "units": 3, "activation": "softmax"}]}
    job = server.wait_job(submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 2, "seed": 0})["id"])
    check(job["status"] == "succeeded", "job %r" % job)
    rows = np.random.default_rng(0).integers(0, 256, (6, 784))
    proto = check_model("native cnn", job["result_model"], rows)
    m = meta(proto)
    check(m["finetuned.classes"] == server.get("/v1/models/" + job["result_model"]).json()["classes"], "classes %r" % m)
    check(abs(m["finetuned.preprocessing"]["scale"] - 1 / 255) < 1e-9, "preprocessing %r" % m)
    S["cnn"] = job["result_model"]


def test_mlp_gelu_sigmoid():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5)) * [1, 10, 0.1, 3, 1] + [0, 50, 0, -2, 1]
    y = (x[:, 0] + x[:, 3] > -2).astype(int)
    csv = csv_text(["a", "b", "c", "d", "e", "label"], [list(np.round(r, 4)) + [int(c)] for r, c in zip(x, y)])
    r = server.post("/v1/datasets?label=label", csv.encode(), content_type="text/csv")
    check(r.status == 201, "csv upload %r" % r)
    arch = {"input": [5], "layers": [{"type": "dense", "units": 12, "activation": "gelu"},
                                     {"type": "dense", "units": 8, "activation": "hard_swish"},
                                     {"type": "dense", "units": 1, "activation": "sigmoid"}]}
    spec = {"dataset": r.json()["id"], "architecture": arch, "loss": "binary_cross_entropy", "preprocessing": {"standardize": True},
            "epochs": 3, "seed": 0}
    job = server.wait_job(submit(server, spec)["id"])
    check(job["status"] == "succeeded", "job %r" % job)
    S["binary"] = job["result_model"]
    rows = x[:7]
    # gelu is composed with Erf, which the importer reads back (an erf
    # activation between Mul and Add layers): the round trip predicts the same.
    proto = check_model("mlp gelu sigmoid", job["result_model"], rows)
    check("Erf" in {n.op_type for n in proto.graph.node}, "gelu not composed with Erf")
    check(len(meta(proto)["finetuned.preprocessing"]["mean"]) == 5, "standardization %r" % meta(proto))


# ---- every layer type and activation ----

ZOO = {"input": [3, 9, 9], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 4, "kernel": 3, "padding": [1, 0, 2, 1], "activation": "leaky_relu",
     "negative_slope": 0.2},
    {"name": "c2", "type": "conv2d", "filters": 4, "kernel": 3, "groups": 2, "dilation": 2, "padding": 2,
     "activation": "hard_swish"},
    {"name": "bn", "type": "batchnorm"},
    {"name": "a3", "type": "activation", "activation": "sigmoid"},
    {"name": "add1", "type": "add", "inputs": ["a3", "c1"], "activation": "clip", "min": -1, "max": 2},
    {"name": "k", "type": "constant", "shape": [4, 1, 1]},
    {"name": "mul1", "type": "mul", "inputs": ["add1", "k"], "activation": "hard_sigmoid", "alpha": 0.3, "beta": 0.4},
    {"name": "mp", "type": "maxpool2d", "size": 2, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
    {"name": "ap", "type": "avgpool2d", "inputs": ["mul1"], "size": 3, "stride": 2, "padding": 1,
     "ceil_mode": True, "count_include_pad": False},
    {"name": "cat", "type": "concat", "inputs": ["mp", "ap"], "axis": 0},
    {"name": "k2", "type": "constant", "shape": [5]},
    {"name": "add2", "type": "add", "inputs": ["cat", "k2"]},
    {"name": "a4", "type": "activation", "activation": "tanh"},
    {"name": "pd", "type": "pad", "pads": [0, 1, 0, 0, 0, 1], "value": 0.5},
    {"name": "act1", "type": "activation", "activation": "gelu"},
    {"name": "k4", "type": "constant", "shape": [1]},
    {"name": "mul3", "type": "mul", "inputs": ["act1", "k4"]},
    {"name": "rs", "type": "reshape", "shape": [8, 42]},
    {"name": "sm", "type": "softmax", "axis": 1},
    {"name": "rs2", "type": "reshape", "shape": [8, 7, 6]},
    {"name": "smf", "type": "softmax", "axis": 0, "flatten": True},
    {"name": "k3", "type": "constant", "shape": [1, 1, 1]},
    {"name": "mul2", "type": "mul", "inputs": ["smf", "k3"]},
    {"name": "mx", "type": "maxpool2d", "size": [7, 6], "stride": 1},
    {"name": "fl", "type": "flatten"},
    {"name": "gap", "type": "global_avgpool2d", "inputs": ["act1"]},
    {"name": "add3", "type": "add", "inputs": ["fl", "gap"]},
    {"name": "do", "type": "dropout", "rate": 0.5},
    {"name": "d1", "type": "dense", "units": 6, "activation": "relu"},
    {"name": "d2", "type": "dense", "units": 5, "activation": "softmax"}]}
ZOO_TENSORS = {"c1.weight": [4, 3, 3, 3], "c1.bias": [4], "c2.weight": [4, 2, 3, 3], "c2.bias": [4],
               "bn.weight": [4], "bn.bias": [4], "k.weight": [4, 1, 1], "k2.weight": [5], "k3.weight": [1, 1, 1], "k4.weight": [1],
               "d1.weight": [6, 8], "d1.bias": [6], "d2.weight": [5, 6], "d2.bias": [5]}


def safetensors(arch, tensors, meta_extra):
    """A model file: our metadata and F32 tensors (name -> numpy array)."""
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        b = np.asarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    header["__metadata__"] = dict({"format": "finetuned.model.v1", "architecture": json.dumps(arch),
                                   "trainable_from": "0"}, **meta_extra)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def test_every_layer_type_and_activation():
    rng = np.random.default_rng(2)
    tensors = {n: rng.normal(0, 0.5, s).astype(np.float32) for n, s in ZOO_TENSORS.items()}
    # Softmax over many values flattens its input: k4 sharpens sm, k3 undoes
    # smf's 1/336, so what comes before them still shows at the output.
    tensors["k4.weight"][:], tensors["k3.weight"][:] = 10, 8 * 7 * 6
    data = safetensors(ZOO, tensors, {"classes": json.dumps(list("abcde"))})
    r = server.upload("/v1/models", {"file": ("zoo.safetensors", data)})
    check(r.status == 201, "zoo upload %r" % r)
    zoo = r.json()
    kinds = {l["type"] for l in zoo["layers"]}
    acts = {l.get("activation") for l in ZOO["layers"]}
    check(len(kinds) == 16, "layer types covered: %r" % sorted(kinds))
    check(len(acts - {None}) == 9, "activations covered: %r" % sorted(acts - {None}))
    rows = rng.normal(0, 1.5, (5, 3 * 9 * 9))
    proto = check_model("every layer type", zoo["id"], rows, roundtrip_ok=False)
    ops = {n.op_type for n in proto.graph.node}
    check({"Unsqueeze", "Erf", "HardSwish", "BatchNormalization", "Pad", "Concat"} <= ops, "ops %r" % sorted(ops))


def test_constant_feeding_concat_is_refused():
    arch = {"input": [2], "layers": [{"name": "k", "type": "constant", "shape": [2]},
                                     {"name": "cat", "type": "concat", "inputs": ["input", "k"], "axis": 0},
                                     {"name": "d", "type": "dense", "units": 1}]}
    data = safetensors(arch, {"k.weight": np.ones(2), "d.weight": np.ones((1, 4)), "d.bias": np.zeros(1)}, {})
    r = server.upload("/v1/models", {"file": ("k.safetensors", data)})
    check(r.status == 201, "upload %r" % r)
    e = server.get("/v1/models/%s/content?format=onnx" % r.json()["id"])
    expect_error(e, 422)
    check("constant layer 'k' feeds concat layer 'cat'" in e.json()["error"]["message"], "%r" % e.json())


# ---- imported networks ----

def test_imported_resnet_finetuned():
    p = subprocess.run(["/usr/bin/python3", PHOTOS, server.tmp, "--per-class", "20"], capture_output=True,
                       text=True, timeout=120)
    check(p.returncode == 0, "fmnist_photos.py: %s" % p.stderr)
    with open(FIXTURE + ".json") as f:
        pp = json.load(f)["preprocess"]
    with open(FIXTURE + ".onnx", "rb") as f:
        r = server.upload("/v1/models", {"file": ("fmnist_resnet_0to4.onnx", f.read())},
                          query="?preprocess=" + urllib.parse.quote(json.dumps(pp)))
    check(r.status == 201, "upload %r" % r)
    base = r.json()["id"]
    with open(os.path.join(server.tmp, "fmnist_5to9_train.zip"), "rb") as f:
        r = server.upload("/v1/datasets", {"file": ("train.zip", f.read())}, query="?image_size=32x32&color=rgb")
    check(r.status == 201, "photos %r" % r)
    spec = {"dataset": r.json()["id"], "base_model": base, "drop_layers": 2, "freeze": "base",
            "head": {"hidden": [16], "activation": "gelu", "output": "softmax"}, "epochs": 2, "seed": 0}
    job = server.wait_job(submit(server, spec)["id"])
    check(job["status"] == "succeeded", "job %r" % job)
    rows = np.random.default_rng(3).integers(0, 256, (4, 3 * 32 * 32))
    # with its gelu hidden layer, read back too (round trip)
    proto = check_model("resnet fine-tuned", job["result_model"], rows)
    check(meta(proto)["finetuned.preprocessing"]["per"] == "channel", "preprocessing %r" % meta(proto))


def test_mobilenet_v3_small():
    p = subprocess.run(["/usr/bin/python3", NETWORKS, CACHE, "mobilenet_v3_small"], capture_output=True, text=True,
                       timeout=900)
    check(p.returncode == 0, "torchvision_onnx.py: %s" % p.stderr[-2000:])
    with open(os.path.join(CACHE, "mobilenet_v3_small-opset17.onnx"), "rb") as f:
        r = server.upload("/v1/models", {"file": ("mobilenet_v3_small.onnx", f.read())})
    check(r.status == 201, "upload %r" % r)
    rows = np.fromfile(os.path.join(CACHE, "mobilenet_v3_small.in.f32"), "<f4").reshape(8, -1)[:2]
    check_model("mobilenet_v3_small", r.json()["id"], rows)


# ---- the route and the command ----

def test_unknown_format():
    check("cnn" in S, "the CNN job failed")
    expect_error(server.get("/v1/models/%s/content?format=bogus" % S["cnn"]), 400, "invalid_format", "format")
    r = server.get("/v1/models/%s/content?format=safetensors" % S["cnn"])
    check(r.status == 200 and r.body[8:9] == b"{", "safetensors download %r" % r)
    expect_error(server.get("/v1/models/mdl_nope/content?format=onnx"), 404)


def test_cli_export_matches_route():
    check("cnn" in S, "the CNN job failed")
    src, out = os.path.join(server.tmp, "cnn.safetensors"), os.path.join(server.tmp, "cnn.onnx")
    with open(src, "wb") as f:
        f.write(server.get("/v1/models/%s/content" % S["cnn"]).body)
    p = subprocess.run([os.path.join(BUILD, "finetuned"), "export", src, out, "--format", "onnx"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "export: %s" % p.stderr)
    with open(out, "rb") as f:
        check(f.read() == export(S["cnn"])[0], "the command and the route wrote different files")
    p = subprocess.run([os.path.join(BUILD, "finetuned"), "export", src, out, "--format", "tflite"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and "onnx is the only format" in p.stderr, "bad format: %d %s" % (p.returncode, p.stderr))


if __name__ == "__main__":
    main(globals())
