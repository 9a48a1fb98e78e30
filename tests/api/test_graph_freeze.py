#!/usr/bin/python3
"""Freezing inside a graph (issue 13) through the service: the residual CNN
of tests/fixtures/onnx/fmnist_resnet_0to4.onnx, uploaded as ONNX, fine-tuned
with freeze {"trainable_from": "/5/conv1/Conv"} (the last block's first
convolution: it, its second convolution and the head train; the block's
shortcut, which does not depend on it, stays frozen with everything below).
Every frozen tensor of the result is byte for byte the base's, the trained
ones moved, the feature cache served the prefix up to the block's input, and
bad freeze specs are 422 naming the field."""
import json
import os
import struct
import urllib.parse

from harness import ROOT, Server, check, main, upload_fashion

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "onnx", "fmnist_resnet_0to4")
server = None
S = {}


def setup():
    global server
    server = Server()
    with open(FIXTURE + ".json") as f:
        preprocess = json.load(f)["preprocess"]
    with open(FIXTURE + ".onnx", "rb") as f:
        r = server.upload("/v1/models", {"file": ("fmnist_resnet_0to4.onnx", f.read())},
                          query="?preprocess=" + urllib.parse.quote(json.dumps(preprocess)))
    check(r.status == 201, "ONNX upload: %r" % r)
    S["base"] = r.json()["id"]
    S["data"] = upload_fashion(server, 150, classes=[5, 6, 7, 8, 9])["id"]


def tensors(model_id):
    """{name: raw bytes} of a model file's tensors."""
    r = server.get("/v1/models/%s/content" % model_id)
    check(r.status == 200, "content: %r" % r)
    body = r.body
    n = struct.unpack("<Q", body[:8])[0]
    header = json.loads(body[8:8 + n])
    return {k: body[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}


def spec(freeze):
    return {"dataset": S["data"], "base_model": S["base"], "drop_layers": 1, "freeze": freeze,
            "head": {"output": "softmax"}, "loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.05},
            "epochs": 2, "batch_size": 32, "seed": 1}


def test_trainable_from_keeps_frozen_bytes():
    r = server.post("/v1/jobs", spec({"trainable_from": "/5/conv1/Conv"}))
    check(r.status == 201, "submit: %r" % r)
    check(r.json()["spec"]["freeze"] == {"trainable_from": "/5/conv1/Conv"}, "echo %r" % r.json())
    job = server.wait_job(r.json()["id"], timeout=120)
    check(job["status"] == "succeeded", "job: %r" % job)
    model = server.get("/v1/models/" + job["result_model"]).json()
    trainable = {l["name"]: l["trainable"] for l in model["layers"]}
    want = {"/5/conv1/Conv": True, "/5/conv2/Conv": True, "/5/Add": True, "head_output": True,
            "/5/shortcut/shortcut.0/Conv": False, "/4/conv2/Conv": False, "/0/Conv": False}
    check(all(trainable[k] == v for k, v in want.items()), "trainable %r" % trainable)
    base, tuned = tensors(S["base"]), tensors(job["result_model"])
    frozen = moved = 0
    for name, data in tuned.items():
        layer = name.rsplit(".", 1)[0]
        if layer == "head_output":
            continue
        if trainable[layer]:
            moved += data != base[name]
        else:
            check(data == base[name], "frozen tensor %s changed" % name)
            frozen += 1
    check(frozen == 2 * 8 and moved == 4, "%d frozen tensors, %d of 4 trained tensors moved" % (frozen, moved))
    events = server.get("/v1/jobs/%s/events?limit=100" % job["id"]).json()["data"]
    cache = [e["data"] for e in events if (e.get("data") or {}).get("event") == "feature_cache"]
    check(len(cache) == 1 and "'/4/Add'" in [e["message"] for e in events if e.get("data") == cache[0]][0],
          "feature cache events %r" % events)


def test_bad_freeze_is_422():
    cases = [({"trainable_from": "/nope/Conv"}, "freeze.trainable_from", "no layer named '/nope/Conv'"),
             ({"trainable_from": "/8/Gemm"}, "freeze.trainable_from", "is not kept"),
             ({"trainable_from": 3}, "freeze.trainable_from", "must be a layer name"),
             ({"trainable_last": 11}, "freeze.trainable_last", "between 0 and 10 (the kept layers with weights)")]
    for freeze, param, msg in cases:
        r = server.post("/v1/jobs", spec(freeze))
        err = r.json().get("error", {})
        check(r.status == 422 and err.get("param") == param and msg in err.get("message", ""),
              "%r: %r" % (freeze, r))


if __name__ == "__main__":
    main(globals())
