#!/usr/bin/python3
"""Whole torchvision networks through our ONNX import, against PyTorch and
ONNX Runtime.

tools/fixtures/torchvision_onnx.py exports each network (random weights,
seed 0) at opsets 13 and 17 with 8 random inputs and PyTorch's logits, into
build/onnx-networks-<script hash>/ (generated once per build dir; about
700 MB, never committed). Each file is converted with `finetuned
import-onnx`, run with `finetuned forward`, and must match PyTorch within
1e-4 relative / 1e-3 absolute on the logits; tools/ci/ort_run.js
(onnxruntime-node) runs the same file on the same inputs and must agree
with ours within the same bounds. Prints the max errors measured."""
import hashlib
import os
import subprocess
import tempfile

import numpy as np

from harness import check, main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("FT_BUILD", "build"))
BIN = os.path.join(BUILD, "finetuned")
SCRIPT = os.path.join(ROOT, "tools", "fixtures", "torchvision_onnx.py")
ORT = os.path.join(ROOT, "tools", "ci", "ort_run.js")
NETWORKS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "densenet121",
            "efficientnet_b0"]
OPSETS = [13, 17]
RTOL, ATOL = 1e-4, 1e-3

with open(SCRIPT, "rb") as f:
    CACHE = os.path.join(BUILD, "onnx-networks-" + hashlib.sha256(f.read()).hexdigest()[:12])
TMP = tempfile.mkdtemp(prefix="onnx-networks-")


def setup():
    subprocess.run(["/usr/bin/python3", SCRIPT, CACHE], check=True, timeout=1800)


def teardown():
    for name in os.listdir(TMP):
        os.unlink(os.path.join(TMP, name))
    os.rmdir(TMP)


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, "%s failed: %s" % (" ".join(args[:2]), p.stderr.strip()))
    return p.stdout


def errors(got, want):
    """max |got - want| and max of it over the bound, < 1 when within it."""
    diff = np.abs(got.astype(np.float64) - want)
    return diff.max(), (diff / (ATOL + RTOL * np.abs(want))).max()


def compare(name, opset):
    onnx_path = os.path.join(CACHE, "%s-opset%d.onnx" % (name, opset))
    x = os.path.join(CACHE, name + ".in.f32")
    want = np.fromfile(os.path.join(CACHE, name + ".out.f32"), "<f4").astype(np.float64)
    model, ours, ort = (os.path.join(TMP, "%s-%d.%s" % (name, opset, e)) for e in ("safetensors", "ours", "ort"))
    run(BIN, "import-onnx", onnx_path, model)
    run(BIN, "forward", model, x, ours)
    run("node", ORT, onnx_path, x, ort)
    got, by_ort = np.fromfile(ours, "<f4"), np.fromfile(ort, "<f4")
    # Logits within the absolute tolerance of 0 would pass whatever we computed.
    check(np.abs(want).max() > 10 * ATOL, "%s: PyTorch's logits are degenerate (max %.3g)" % (name, np.abs(want).max()))
    check(got.shape == want.shape and by_ort.shape == want.shape,
          "%s: %s / %s outputs, PyTorch %s" % (name, got.shape, by_ort.shape, want.shape))
    torch_abs, torch_ratio = errors(got, want)
    ort_abs, ort_ratio = errors(got, by_ort.astype(np.float64))
    print("  %-19s opset %d: max |ours - torch| %.2e, |ours - ort| %.2e (%.2f, %.2f of the bound)"
          % (name, opset, torch_abs, ort_abs, torch_ratio, ort_ratio), flush=True)
    check(torch_ratio <= 1, "%s opset %d: off PyTorch by %.3g" % (name, opset, torch_abs))
    check(ort_ratio <= 1, "%s opset %d: off ONNX Runtime by %.3g" % (name, opset, ort_abs))
    for path in (model, ours, ort):
        os.unlink(path)


def network_test(name):
    def test():
        for opset in OPSETS:
            compare(name, opset)
    return test


for _name in NETWORKS:
    globals()["test_" + _name] = network_test(_name)

if __name__ == "__main__":
    main(globals())
