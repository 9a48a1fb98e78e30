#!/usr/bin/python3
"""PyTorch's side of bench/onnx_bench.sh: torchvision's resnet18 with random
weights (torch.manual_seed(0)), in eval mode.
  torch_infer.py export PATH             writes it as ONNX (opset 13)
  torch_infer.py run BATCH THREADS [RUNS] forward at 224x224, prints one JSON
                                          line: the best of RUNS timed runs
                                          after one warm-up run
Run it with OPENBLAS_NUM_THREADS equal to THREADS (Debian's torch otherwise
lets OpenBLAS start a thread per core whatever set_num_threads says)."""
import json
import sys
import time

import torch
import torchvision


def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def export(path):
    torch.onnx.export(resnet18(), torch.randn(1, 3, 224, 224), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def run(batch, threads, runs):
    torch.set_num_threads(threads)
    model = resnet18()
    x = torch.randn(batch, 3, 224, 224)
    best = float("inf")
    with torch.no_grad():
        model(x)
        for _ in range(runs):
            t = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t)
    print(json.dumps({"engine": "pytorch " + torch.__version__, "batch": batch, "threads": threads,
                      "images_per_s": batch / best}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["export"] and len(sys.argv) == 3:
        export(sys.argv[2])
    elif sys.argv[1:2] == ["run"] and len(sys.argv) in (4, 5):
        run(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) == 5 else 5)
    else:
        sys.exit(__doc__)
