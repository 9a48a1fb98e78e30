#!/usr/bin/python3
"""PyTorch's side of bench/finetune_bench.sh: fine-tune the last block of
torchvision's resnet18 (layer4 and a new 10-class head; weights of
bench/torch_infer.py, seed 0) on N 224x224 images, two epochs, SGD lr 0.001
momentum 0.9, batch 32, BatchNorm in inference form (eval mode) as on our side.
  torch_finetune.py data PATH N       writes the images (uint8 NCHW, seeded) and
                                      their labels as a safetensors dataset
  torch_finetune.py run PATH THREADS  trains on them twice and prints one JSON
                                      line per mode:
    "frozen": requires_grad=False below layer4; each epoch runs the whole
              network forward (PyTorch has no cache);
    "precomputed": layer3's outputs computed once under no_grad
              ("precompute_seconds"), then only layer4 and the head per epoch.
  Each line gives "epochs": the seconds of each epoch.
Run it with OPENBLAS_NUM_THREADS equal to THREADS (Debian's torch otherwise
lets OpenBLAS start a thread per core whatever set_num_threads says)."""
import json
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

from torch_infer import resnet18

CLASSES, BATCH, EPOCHS = 10, 32, 2
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def write_data(path, n):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 3, 224, 224), dtype=np.uint8)
    y = (np.arange(n) % CLASSES).astype(np.uint8)
    tensors = [("x", "U8", list(x.shape), x.tobytes()), ("y", "U8", [n], y.tobytes())]
    header, offset = {}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for _, _, _, data in tensors:
            f.write(data)


def read_data(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n

    def tensor(name):
        h = header[name]
        a, b = h["data_offsets"]
        return np.frombuffer(blob[base + a:base + b], np.uint8).reshape(h["shape"])
    # The same scaling as the model's imagenet preprocessing on our side.
    x = torch.from_numpy(tensor("x").astype(np.float32) / 255.0)
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x, torch.from_numpy(tensor("y").astype(np.int64))


def model():
    m = resnet18()
    torch.manual_seed(1)
    m.fc = nn.Linear(512, CLASSES)
    for name, p in m.named_parameters():
        p.requires_grad = name.startswith(("layer4.", "fc."))
    return m.eval()


def train(x, y, forward, params):
    """Seconds of each epoch of SGD on (x, y) through forward."""
    opt = torch.optim.SGD(params, lr=0.001, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    seconds = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss_fn(forward(x[idx]), y[idx]).backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def head(m, h):
    return m.fc(torch.flatten(m.avgpool(m.layer4(h)), 1))


def prefix(m, x):
    """Everything below layer4, batch by batch, without gradients."""
    with torch.no_grad():
        return torch.cat([m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x[i:i + BATCH])))))))
                          for i in range(0, len(x), BATCH)])


def run(path, threads):
    torch.set_num_threads(threads)
    x, y = read_data(path)
    m = model()
    params = [p for p in m.parameters() if p.requires_grad]
    print(json.dumps({"mode": "frozen", "threads": threads, "epochs": train(x, y, m, params)}), flush=True)
    m = model()
    params = [p for p in m.parameters() if p.requires_grad]
    start = time.perf_counter()
    h = prefix(m, x)
    pre = time.perf_counter() - start
    print(json.dumps({"mode": "precomputed", "threads": threads, "precompute_seconds": pre,
                      "epochs": train(h, y, lambda b: head(m, b), params)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["data"] and len(sys.argv) == 4:
        write_data(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 4:
        run(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
