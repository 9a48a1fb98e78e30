#!/usr/bin/python3
"""finetuned's side of bench/finetune_bench.sh, through the service (the
product path): a server with one worker and THREADS training threads
(--blas-threads: data-parallel shards), resnet18 uploaded as ONNX with the
imagenet preprocessing, the images uploaded as a dataset, then a job that
fine-tunes layer4 and a new 10-class head (freeze trainable_from layer4's
first convolution, drop the fc, two epochs, SGD lr 0.001 momentum 0.9, batch
32, the feature store on). Prints one JSON line:
  first_epoch:  the job's training seconds minus its second epoch: computing
                the frozen prefix's features (the cache) plus epoch 1;
  cached_epoch: the second epoch (layer4 and the head on cached features);
  store_hit:    the training seconds of a second, one-epoch job on the same
                base and data: the features come from DATA/features.

usage: bench/finetune_service.py MODEL.onnx DATA.safetensors THREADS
"""
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
from harness import Server, check  # noqa: E402

LAYER4 = "/layer4/layer4.0/conv1/Conv"


def upload(server, path, route, name, query=""):
    with open(path, "rb") as f:
        r = server.upload(route, {"file": (name, f.read())}, query=query)
    check(r.status == 201, "%s upload: %r" % (route, r))
    return r.json()["id"]


def run_job(server, spec):
    r = server.post("/v1/jobs", spec)
    check(r.status == 201, "submit: %r" % r)
    job = server.wait_job(r.json()["id"], timeout=3600)
    check(job["status"] == "succeeded", "job: %r" % job)
    epochs = server.get("/v1/jobs/%s/metrics" % job["id"]).json()["data"]
    return job, [e["seconds"] for e in epochs]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    onnx, data, threads = sys.argv[1], sys.argv[2], sys.argv[3]
    server = Server("--blas-threads", threads, "--max-upload-bytes", "2G")
    try:
        base = upload(server, onnx, "/v1/models", "resnet18.onnx",
                      "?preprocess=" + urllib.parse.quote("imagenet"))
        ds = upload(server, data, "/v1/datasets", "images.safetensors")
        spec = {"dataset": ds, "base_model": base, "drop_layers": 1, "freeze": {"trainable_from": LAYER4},
                "head": {"output": "softmax"}, "loss": "cross_entropy",
                "optimizer": {"type": "sgd", "lr": 0.001, "momentum": 0.9}, "epochs": 2, "batch_size": 32,
                "seed": 1}
        job, seconds = run_job(server, spec)
        check(job["feature_cache"] and len(seconds) == 2, "no feature cache or not 2 epochs: %r" % job)
        again, _ = run_job(server, dict(spec, epochs=1))
        print(json.dumps({"threads": int(threads), "first_epoch": job["train_seconds"] - seconds[1],
                          "cached_epoch": seconds[1], "store_hit": again["train_seconds"]}))
    finally:
        server.close()


if __name__ == "__main__":
    main()
