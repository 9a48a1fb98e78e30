"""PyTorch side of the training-throughput benchmark: one epoch of the MLP
(784-256-128-10) or the CNN (conv16-pool-conv32-pool-128-10) on the 60,000
Fashion-MNIST training images, SGD lr 0.01 momentum 0.9, cross-entropy,
shuffled mini-batches, as `finetuned train` does. Prints
{"model", "batch", "threads", "samples_per_second"} as one JSON line.

/usr/bin/python3 bench/torch_train.py --model cnn --batch 64 --threads 1
"""
import argparse
import gzip
import json
import os
import sys
import time


def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# "Same thread count": torch.set_num_threads() does not limit the OpenBLAS
# that Debian's torch calls for matrix products, which otherwise starts a
# thread per core on its own. Fix its pool size before torch loads it.
os.environ["OPENBLAS_NUM_THREADS"] = _threads_from_argv()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist/"


def load():
    with gzip.open(FASHION + "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION + "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def model(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["mlp", "cnn"], required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = load()
    m = model(args.model)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), args.batch):
        b = order[i:i + args.batch]
        opt.zero_grad()
        loss_fn(m(x[b]), y[b]).backward()
        opt.step()
    rate = len(x) / (time.perf_counter() - start)
    print(json.dumps({"model": args.model, "batch": args.batch, "threads": args.threads,
                      "samples_per_second": rate}))


if __name__ == "__main__":
    main()
