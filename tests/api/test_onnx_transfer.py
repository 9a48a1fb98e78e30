#!/usr/bin/python3
"""Issue 12's real transfer through the service: a residual CNN trained with
PyTorch on Fashion-MNIST classes 0-4 (the committed fixture
tests/fixtures/onnx/fmnist_resnet_0to4.onnx, made by
tools/fixtures/transfer_onnx.py) is uploaded as ONNX with its preprocessing,
then fine-tuned with a frozen base and a new dense softmax head on JPEG
photos of mixed sizes of classes 5-9 (100 per class, written at test time by
tools/fixtures/fmnist_photos.py), and it must beat the same convolutions
trained from scratch on the same 500 photos, both scored on 500 test photos.
Every job trains 30 epochs of Adam (lr 1e-3).

The scratch network is the fixture's trunk without its shortcuts and batch
norms (7 convolutions of the same widths and strides, global average pool,
dense 5): the plain stack a user would write from scratch."""
import io
import json
import os
import subprocess
import time
import urllib.parse
import zipfile

from harness import ROOT, Server, check, main

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "onnx", "fmnist_resnet_0to4")
PHOTOS = os.path.join(ROOT, "tools", "fixtures", "fmnist_photos.py")
CLASSES = ["ankle_boot", "bag", "sandal", "shirt", "sneaker"]
server = None
S = {}  # the photo zips, the uploaded model and datasets, the finished jobs


def conv(filters, stride):
    return {"type": "conv2d", "filters": filters, "kernel": 3, "stride": stride, "padding": 1, "activation": "relu"}


SCRATCH = {"input": [3, 32, 32], "layers": [
    conv(32, 1), conv(32, 2), conv(32, 1), conv(64, 2), conv(64, 1), conv(128, 2), conv(128, 1),
    {"type": "global_avgpool2d"}, {"type": "dense", "units": 5, "activation": "softmax"}]}
# The same training for every job: 30 epochs of Adam on the 500 photos.
TRAINING = {"loss": "cross_entropy", "optimizer": {"type": "adam", "lr": 1e-3}, "epochs": 30, "batch_size": 64,
            "seed": 0}


def setup(*flags):
    global server
    # One worker with both cores: the jobs run one after another, and the
    # scratch job (the only slow one) gets two BLAS threads.
    server = Server("--blas-threads", "2", *flags)
    started = time.time()
    run = subprocess.run(["/usr/bin/python3", PHOTOS, server.tmp], capture_output=True, text=True, timeout=60)
    check(run.returncode == 0, "fmnist_photos.py: %s" % run.stderr)
    print("photos written in %.1f s" % (time.time() - started))
    for part in ("train", "test"):
        with open(os.path.join(server.tmp, "fmnist_5to9_%s.zip" % part), "rb") as f:
            S[part + "_zip"] = f.read()
    with open(FIXTURE + ".json") as f:
        S["sidecar"] = json.load(f)


def test_photos_are_mixed_size_jpegs():
    for part in ("train", "test"):
        z = zipfile.ZipFile(io.BytesIO(S[part + "_zip"]))
        names = z.namelist()
        check(sorted({n.split("/")[0] for n in names}) == CLASSES, "classes of %s: %r" % (part, names[:5]))
        check(all(names.count(n) == 1 for n in names) and len(names) == 500, "%s: %d entries" % (part, len(names)))
        sizes = set()
        for n in names:
            data = z.read(n)
            check(data[:3] == b"\xff\xd8\xff", "%s is not a JPEG" % n)
            sizes.add(jpeg_geometry(data))
        check(all(c == 3 and 32 <= w <= 48 and 32 <= h <= 48 for w, h, c in sizes), "geometry %r" % sizes)
        check(len(sizes) > 50 and any(w != h for w, h, _ in sizes), "%s: only %r" % (part, sizes))


def jpeg_geometry(data):
    """(width, height, components) from a baseline JPEG's SOF0 segment."""
    i = 2
    while i + 4 <= len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xC0:
            return (int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big"), data[i + 9])
        i += 2 + length
    raise AssertionError("no SOF0 segment")


def test_upload_onnx_with_preprocessing():
    with open(FIXTURE + ".onnx", "rb") as f:
        onnx_bytes = f.read()
    query = "?preprocess=" + urllib.parse.quote(json.dumps(S["sidecar"]["preprocess"]))
    r = server.upload("/v1/models", {"file": ("fmnist_resnet_0to4.onnx", onnx_bytes)}, query=query)
    check(r.status == 201, "ONNX upload: %r" % r)
    m = r.json()
    S["model"] = m["id"]
    check(m["input_shape"] == [3, 32, 32] and m["output_shape"] == [5], "shapes %r" % m)
    # BatchNormalization was folded by the exporter, so every parameter is an
    # initializer of the file: the layer table holds exactly those.
    check(m["params"] == S["sidecar"]["parameters_folded"], "params %r, file has %d" % (
        m["params"], S["sidecar"]["parameters_folded"]))
    check(m["params"] == sum(l["params"] for l in m["layers"]), "layer table %r" % m["layers"])


def upload_photos(part):
    r = server.upload("/v1/datasets", {"file": ("fmnist_5to9_%s.zip" % part, S[part + "_zip"])},
                      query="?name=fmnist-%s&image_size=32x32&color=rgb" % part)
    check(r.status == 201, "%s photos: %r" % (part, r))
    ds = r.json()
    check(ds["rows"] == 500, "%s rows %r" % (part, ds))
    return ds["id"]


def run_jobs(specs):
    """Submit every spec, then wait for all: {key: finished job}."""
    ids = {}
    for key, spec in specs.items():
        r = server.post("/v1/jobs", dict(spec, name=key, **TRAINING))
        check(r.status == 201, "%s: %r" % (key, r))
        ids[key] = r.json()["id"]
    jobs = {key: server.wait_job(i, timeout=300) for key, i in ids.items()}
    for key, job in jobs.items():
        check(job["status"] == "succeeded", "%s: %r" % (key, job))
    return jobs


def test_transfer_beats_scratch():
    check("model" in S, "the ONNX upload failed")
    data = {"dataset": upload_photos("train"), "test": upload_photos("test")}
    transfer = dict(data, base_model=S["model"], freeze="base", head={"output": "softmax"})
    started = time.time()
    jobs = run_jobs({
        # The second stage's output (64x8x8, the Relu fused into /4/Add,
        # named by its ONNX tensor): features general enough for shoes and
        # bags although the base only saw clothes.
        "transfer-stage2": dict(transfer, cut_after="/4/Relu_1_output_0"),
        # drop 2 = fc and the global pool: the third stage's 128x4x4 output.
        "transfer-drop2": dict(transfer, drop_layers=2),
        # drop 1 = fc: the 128-d pooled feature.
        "transfer-drop1": dict(transfer, drop_layers=1),
        "scratch": dict(data, architecture=SCRATCH, init="he_normal"),
    })
    acc = {key: job["test_metrics"]["accuracy"] for key, job in jobs.items()}
    print("test accuracy on 500 photos of classes 5-9: %s (4 jobs in %.0f s)"
          % (json.dumps(acc), time.time() - started))
    # Seen: 0.942 against 0.914 (finetuned train on the same photos).
    check(acc["transfer-stage2"] >= acc["scratch"] + 0.01, "transfer did not beat scratch: %r" % acc)
    check(acc["transfer-stage2"] >= 0.9, "transfer below 0.9: %r" % acc)
    # The house lesson again (seen: 0.93 against 0.73): the pooled feature is
    # the base's last hidden layer, specific to classes 0-4; dropping it too
    # transfers better.
    check(acc["transfer-drop1"] + 0.05 <= acc["transfer-drop2"], "%r" % acc)


if __name__ == "__main__":
    main(globals())
