"""PyTorch side of the transfer-learning benchmark (docs/design.md protocol).

Pretrains the CNN base on Fashion-MNIST classes 0-4 (3 epochs, SGD lr 0.01
momentum 0.9, batch 64), then fine-tunes the seven variants on 100 images per
class of classes 5-9 (30 epochs) and tests them on the 5,000 test images of
classes 5-9. Prints one JSON object per line: {"variant", "accuracy",
"seconds"} (fine-tune seconds = the training loop only, like our
train_seconds), plus {"variant": "base", ...} for pretraining.

Run with Debian's interpreter: /usr/bin/python3 bench/torch_transfer.py
[--threads N] [--seed S] [--pretrain-per-class N]
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


def load(kind):
    with gzip.open(FASHION + "%s-images-idx3-ubyte.gz" % kind) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION + "%s-labels-idx1-ubyte.gz" % kind) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def select(x, y, classes, per_class=None, rng=None):
    idx = []
    for c in classes:
        members = np.nonzero(y.numpy() == c)[0]
        if per_class is not None:
            members = np.sort(rng.permutation(members)[:per_class])
        idx.append(members)
    idx = np.sort(np.concatenate(idx))
    remap = torch.full((10,), -1, dtype=torch.int64)
    for i, c in enumerate(classes):
        remap[c] = i
    return x[idx], remap[y[idx]]


def cnn(outputs):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, outputs))


def fit(model, x, y, epochs, seed):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            b = order[i:i + 64]
            opt.zero_grad()
            loss_fn(model(x[b]), y[b]).backward()
            opt.step()
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for i in range(0, len(x), 1000):
        correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def init_new(layers, scheme):
    for layer in layers:
        if scheme == "he":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        elif scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        else:
            nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


def variant(base, drop, freeze, scheme):
    kept = list(base.children())[:-drop * 2 + 1] if drop == 2 else list(base.children())[:-1]
    model_layers = [nn.Sequential(*kept)]
    new = []
    if drop == 2:
        new += [nn.Linear(32 * 7 * 7, 128)]
        model_layers += [new[-1], nn.ReLU()]
    new += [nn.Linear(128, 5)]
    model_layers.append(new[-1])
    model = nn.Sequential(*model_layers)
    import copy
    model = copy.deepcopy(model)
    new = [m for m in model.modules() if isinstance(m, nn.Linear)][-len(new):]
    init_new(new, scheme)
    if freeze:
        for p in model[0].parameters():
            p.requires_grad_(False)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pretrain-per-class", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    rng = np.random.RandomState(args.seed)
    bx, by = select(xtr, ytr, [0, 1, 2, 3, 4], args.pretrain_per_class, rng)
    tx, ty = select(xte, yte, [0, 1, 2, 3, 4])
    base = cnn(5)
    secs = fit(base, bx, by, 3, args.seed)
    print(json.dumps({"variant": "base", "accuracy": accuracy(base, tx, ty), "seconds": secs}), flush=True)
    fx, fy = select(xtr, ytr, [5, 6, 7, 8, 9], 100, rng)
    gx, gy = select(xte, yte, [5, 6, 7, 8, 9])
    runs = [("from scratch on the 500 images", None), ("drop 1 (output), frozen base, he", (1, True, "he")),
            ("drop 1, frozen, zeros", (1, True, "zeros")), ("drop 2 (output + last hidden), frozen, he", (2, True, "he")),
            ("drop 2, frozen, xavier", (2, True, "xavier")), ("drop 2, frozen, zeros", (2, True, "zeros")),
            ("drop 2, full fine-tune, he", (2, False, "he"))]
    for name, how in runs:
        torch.manual_seed(args.seed)
        model = cnn(5) if how is None else variant(base, *how)
        secs = fit(model, fx, fy, 30, args.seed)
        print(json.dumps({"variant": name, "accuracy": accuracy(model, gx, gy), "seconds": secs}), flush=True)


if __name__ == "__main__":
    main()
