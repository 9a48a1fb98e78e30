#!/usr/bin/python3
"""Generate the PyTorch reference fixtures in tests/fixtures/.

Run with Debian's interpreter, which has python3-torch (1.13) and numpy:

    /usr/bin/python3 tools/gen_fixtures.py            # regenerate + verify
    /usr/bin/python3 tools/gen_fixtures.py --check    # only verify the files
    /usr/bin/python3 tools/gen_fixtures.py --out DIR  # write somewhere else

CI never runs this script: the C tests read the committed JSON files.  The
output is deterministic (fixed seeds, fixed sizes, one thread), so rerunning
it reproduces the committed files byte for byte.

Numerics: every input (x, dy, params, targets) is drawn in float32, so it is
exactly representable as a C float.  The reference values are then computed
in float64 from those exact inputs and rounded to float32 for storage, so
the fixtures hold the correctly rounded answer rather than one particular
float32 summation order.  Every number is written as the Python float
(double) equal to that float32 value, so strtod() followed by a cast to float
recovers it exactly.

After writing, the files are reloaded and every case is rebuilt from its JSON
alone (architecture + params) and recomputed: with torch in float64 (must
reproduce the stored values), with torch in float32 (loose tolerance), with
an independent naive numpy implementation of the layers / losses /
optimiser update rules, and with finite differences.  tests/fixtures/README.md
documents the format.
"""

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures")
GENERATOR = "tools/gen_fixtures.py"
MARGIN = 1e-3          # min distance of relu/leaky_relu pre-activations from 0,
                       # and min gap between a maxpool window's top two values
DTYPE = torch.float64  # reference computation dtype (storage is float32)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------
# JSON architecture -> torch
# --------------------------------------------------------------------------

def pair(v):
    """int k or [kh, kw] -> (kh, kw)."""
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) for i in v):
        return (v[0], v[1])
    raise ValueError("expected int or [h, w], got %r" % (v,))


def out_len(n, k, s, p):
    return (n + 2 * p - k) // s + 1


class Model:
    """A model built from the architecture JSON, holding its parameters as
    plain tensors '<layer>.weight' / '<layer>.bias' in layer order."""

    def __init__(self, arch, dtype=DTYPE):
        self.arch = arch
        self.layers = []
        self.params = {}
        shape = tuple(arch["input"])
        for i, spec in enumerate(arch["layers"]):
            t = spec["type"]
            name = spec.get("name", "%s_%d" % (t, i))
            L = {"name": name, "type": t, "act": spec.get("activation", "linear"),
                 "slope": float(spec.get("negative_slope", 0.01)), "in_shape": shape}
            if t == "dense":
                if len(shape) != 1:
                    raise ValueError("%s: dense input must be flat, got %r" % (name, shape))
                mod = nn.Linear(shape[0], spec["units"])   # default torch init
                self.params[name + ".weight"] = mod.weight.detach().to(dtype)
                self.params[name + ".bias"] = mod.bias.detach().to(dtype)
                shape = (spec["units"],)
            elif t == "conv2d":
                if len(shape) != 3:
                    raise ValueError("%s: conv2d input must be [C,H,W]" % name)
                k, s, p = pair(spec["kernel"]), pair(spec.get("stride", 1)), pair(spec.get("padding", 0))
                mod = nn.Conv2d(shape[0], spec["filters"], k, s, p)
                self.params[name + ".weight"] = mod.weight.detach().to(dtype)
                self.params[name + ".bias"] = mod.bias.detach().to(dtype)
                L.update(k=k, s=s, p=p)
                shape = (spec["filters"], out_len(shape[1], k[0], s[0], p[0]),
                         out_len(shape[2], k[1], s[1], p[1]))
            elif t in ("maxpool2d", "avgpool2d"):
                if len(shape) != 3:
                    raise ValueError("%s: pool input must be [C,H,W]" % name)
                k = pair(spec["size"])
                s = pair(spec.get("stride", spec["size"]))
                p = pair(spec.get("padding", 0))
                L.update(k=k, s=s, p=p)
                shape = (shape[0], out_len(shape[1], k[0], s[0], p[0]),
                         out_len(shape[2], k[1], s[1], p[1]))
            elif t == "global_avgpool2d":
                shape = (shape[0],)
            elif t == "flatten":
                shape = (int(np.prod(shape)),)
            else:
                raise ValueError("unknown layer type %r" % t)
            if L["act"] == "softmax" and len(shape) != 1:
                raise ValueError("%s: softmax only on a flat (dense) output" % name)
            L["out_shape"] = shape
            self.layers.append(L)
        self.output_shape = shape

    def load(self, params, dtype=DTYPE):
        for k in self.params:
            self.params[k] = torch.tensor(params[k], dtype=dtype).reshape(self.params[k].shape)

    def forward(self, x, params=None, rec=None):
        """Returns (y, z_last): y the output, z_last the last layer's
        pre-activation (logits for fused softmax / sigmoid losses).  If rec is
        a list, appends ('kink', name, z) for relu/leaky_relu pre-activations
        and ('pool', name, windows, allow_zero_tie) for maxpool inputs."""
        P = self.params if params is None else params
        prev_relu = False
        z = x
        for L in self.layers:
            n, t = L["name"], L["type"]
            if t == "dense":
                if x.dim() != 2:
                    raise ValueError("%s: dense input must be flat" % n)
                z = F.linear(x, P[n + ".weight"], P[n + ".bias"])
            elif t == "conv2d":
                z = F.conv2d(x, P[n + ".weight"], P[n + ".bias"], L["s"], L["p"])
            elif t == "maxpool2d":
                if rec is not None:
                    rec.append(("pool", n, pool_windows(x, L["k"], L["s"], L["p"]), prev_relu))
                z = F.max_pool2d(x, L["k"], L["s"], L["p"])
            elif t == "avgpool2d":
                z = F.avg_pool2d(x, L["k"], L["s"], L["p"], count_include_pad=True)
            elif t == "global_avgpool2d":
                z = x.mean(dim=(2, 3))
            elif t == "flatten":
                z = x.flatten(1)
            a = L["act"]
            if a in ("relu", "leaky_relu") and rec is not None:
                rec.append(("kink", n, z.detach()))
            if a == "linear":
                x = z
            elif a == "relu":
                x = F.relu(z)
            elif a == "leaky_relu":
                x = F.leaky_relu(z, L["slope"])
            elif a == "sigmoid":
                x = torch.sigmoid(z)
            elif a == "tanh":
                x = torch.tanh(z)
            elif a == "softmax":
                x = torch.softmax(z, dim=1)
            else:
                raise ValueError("unknown activation %r" % a)
            prev_relu = a == "relu"
        return x, z


def pool_windows(x, k, s, p):
    """[B,C,H,W] -> [B,C,kh*kw,L] maxpool windows, padding as -inf."""
    x = x.detach()
    B, C = x.shape[0], x.shape[1]
    xp = F.pad(x, (p[1], p[1], p[0], p[0]), value=-math.inf)
    w = F.unfold(xp.reshape(B * C, 1, xp.shape[2], xp.shape[3]), k, stride=s)
    return w.reshape(B, C, k[0] * k[1], -1)


def violations(rec, margin=MARGIN):
    """Number of relu/leaky_relu pre-activations within margin of 0 plus
    maxpool windows whose top two values are within margin of each other.
    A tie at exactly 0 right after a relu is harmless (every tied element has
    a clamped pre-activation < -margin, so its gradient is 0 whichever one is
    picked) and is allowed."""
    bad = 0
    for item in rec:
        if item[0] == "kink":
            bad += int((item[2].abs() < margin).sum())
        else:
            _, _, w, allow_zero = item
            top = w.sort(dim=2, descending=True).values
            gap = top[:, :, 0] - top[:, :, 1]
            ok = gap >= margin
            if allow_zero:
                ok = ok | (top[:, :, 0] == 0)
            bad += int((~ok).sum())
    return bad


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def f32(t):
    """Tensor -> flat list of Python floats equal to its float32 rounding."""
    return t.detach().to(torch.float32).reshape(-1).tolist()


def r32(t):
    """Round a tensor to float32 values, keep the reference dtype."""
    return t.detach().to(torch.float32).to(DTYPE)


def randn(*shape, scale=1.0):
    return r32(torch.randn(*shape) * scale)


def params_json(params):
    return {k: f32(v) for k, v in params.items()}


def header():
    return {"generator": GENERATOR, "torch_version": torch.__version__,
            "compute_dtype": "float64 (inputs float32-exact, outputs rounded to float32)",
            "cases": []}


def loss_fn(name, y, z, target):
    """Training loss; cross_entropy / binary_cross_entropy are fused with the
    softmax / sigmoid head and so take the pre-activation logits z."""
    if name == "cross_entropy":
        return F.cross_entropy(z, target)
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(z, target)
    if name == "mse":
        return F.mse_loss(y, target)
    if name == "mae":
        return F.l1_loss(y, target)
    if name == "huber":
        return F.huber_loss(y, target, delta=1.0)
    raise ValueError(name)


def make_optimizer(cfg, params):
    t = cfg["type"]
    if t == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"],
                               nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"])
    if t == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]),
                                eps=cfg["eps"], weight_decay=cfg["weight_decay"])
    if t == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]),
                                 eps=cfg["eps"], weight_decay=cfg["weight_decay"])
    raise ValueError(t)


def train_run(model, batches, loss, opt_cfg, in_shape, dtype=DTYPE):
    """Runs one step per batch (zero_grad, forward, loss, backward, step).
    Returns dict with y0, grads0, losses, params_after (list per step),
    violations."""
    params = {k: v.detach().to(dtype).clone().requires_grad_(True) for k, v in model.params.items()}
    opt = make_optimizer(opt_cfg, list(params.values()))
    out = {"losses": [], "params_after": [], "violations": 0}
    for i, (x, target) in enumerate(batches):
        opt.zero_grad()
        rec = []
        xx = x.to(dtype).reshape(-1, *in_shape)
        y, z = model.forward(xx, params, rec)
        out["violations"] += violations(rec)
        tgt = target if target.dtype == torch.long else target.to(dtype).reshape(y.shape)
        l = loss_fn(loss, y, z, tgt)
        l.backward()
        if i == 0:
            out["y0"] = y.detach()
            out["grads0"] = {k: v.grad.detach().clone() for k, v in params.items()}
        out["losses"].append(l.item())
        opt.step()
        out["params_after"].append({k: v.detach().clone() for k, v in params.items()})
    return out


# --------------------------------------------------------------------------
# 1. layer cases
# --------------------------------------------------------------------------

def dense(name, units, act, **kw):
    d = {"name": name, "type": "dense", "units": units, "activation": act}
    d.update(kw)
    return d


def conv(name, filters, kernel, stride, padding, act, **kw):
    d = {"name": name, "type": "conv2d", "filters": filters, "kernel": kernel,
         "stride": stride, "padding": padding, "activation": act}
    d.update(kw)
    return d


def layer_case(name, arch, batch, seed, x_scale=1.0):
    torch.manual_seed(seed)
    for attempt in range(1000):
        model = Model(arch)
        x = randn(batch, *arch["input"], scale=x_scale)
        rec = []
        with torch.no_grad():
            model.forward(x, rec=rec)
        if violations(rec) == 0:
            break
    else:
        raise RuntimeError("%s: could not avoid kinks" % name)
    dy = randn(batch, *model.output_shape)
    xg = x.clone().requires_grad_(True)
    pg = {k: v.clone().requires_grad_(True) for k, v in model.params.items()}
    y, _ = model.forward(xg, pg)
    (y * dy).sum().backward()
    return {"kind": "layer", "name": name, "architecture": arch, "batch": batch,
            "output_shape": list(model.output_shape),
            "params": params_json(model.params), "x": f32(x), "dy": f32(dy),
            "y": f32(y), "dx": f32(xg.grad), "grads": {k: f32(v.grad) for k, v in pg.items()}}


def gen_layers():
    doc = header()
    C = doc["cases"]
    img = [3, 5, 7]
    seed = 1000
    # dense with every activation
    for act in ("linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"):
        seed += 1
        arch = {"input": [7], "layers": [dense("fc1", 5, act)]}
        C.append(layer_case("dense_" + act, arch, 3, seed))
    C.append(layer_case("dense_leaky_relu_slope_0.2",
                        {"input": [7], "layers": [dense("fc1", 5, "leaky_relu", negative_slope=0.2)]},
                        3, 1100))
    # conv2d
    C.append(layer_case("conv2d_k3_s1_p0_linear",
                        {"input": img, "layers": [conv("conv1", 4, 3, 1, 0, "linear")]}, 3, 1201))
    C.append(layer_case("conv2d_k3_s2_p1_relu",
                        {"input": img, "layers": [conv("conv1", 4, 3, 2, 1, "relu")]}, 3, 1202))
    C.append(layer_case("conv2d_k2x3_s1x2_p1x0_leaky_relu",
                        {"input": img, "layers": [conv("conv1", 4, [2, 3], [1, 2], [1, 0], "leaky_relu")]},
                        3, 1203))
    C.append(layer_case("conv2d_k3x2_s2x1_p0x1_tanh",
                        {"input": img, "layers": [conv("conv1", 2, [3, 2], [2, 1], [0, 1], "tanh")]},
                        3, 1204))
    C.append(layer_case("conv2d_k1_sigmoid",
                        {"input": img, "layers": [conv("conv1", 2, 1, 1, 0, "sigmoid")]}, 3, 1205))
    # pools
    C.append(layer_case("maxpool2d_2",
                        {"input": img, "layers": [{"name": "pool1", "type": "maxpool2d", "size": 2}]},
                        3, 1301))
    C.append(layer_case("maxpool2d_3_s2_p1",
                        {"input": img, "layers": [{"name": "pool1", "type": "maxpool2d", "size": 3,
                                                   "stride": 2, "padding": 1}]}, 3, 1302))
    C.append(layer_case("maxpool2d_3_s1_p0",
                        {"input": img, "layers": [{"name": "pool1", "type": "maxpool2d", "size": 3,
                                                   "stride": 1, "padding": 0}]}, 3, 1303))
    C.append(layer_case("avgpool2d_2",
                        {"input": img, "layers": [{"name": "pool1", "type": "avgpool2d", "size": 2}]},
                        3, 1304))
    C.append(layer_case("avgpool2d_3_s2_p1",
                        {"input": img, "layers": [{"name": "pool1", "type": "avgpool2d", "size": 3,
                                                   "stride": 2, "padding": 1}]}, 3, 1305))
    C.append(layer_case("global_avgpool2d",
                        {"input": img, "layers": [{"name": "gap", "type": "global_avgpool2d"}]}, 3, 1401))
    C.append(layer_case("flatten",
                        {"input": img, "layers": [{"name": "flat", "type": "flatten"}]}, 3, 1402))
    # stacks
    C.append(layer_case("stack_conv_relu_maxpool_flatten_dense", {"input": img, "layers": [
        conv("conv1", 4, 3, 1, 1, "relu"),
        {"name": "pool1", "type": "maxpool2d", "size": 2},
        {"name": "flat", "type": "flatten"},
        dense("fc1", 5, "linear")]}, 3, 1501))
    C.append(layer_case("stack_conv_avgpool_conv_gap_dense_softmax", {"input": [2, 6, 5], "layers": [
        conv("conv1", 3, [3, 2], 1, [1, 0], "leaky_relu"),
        {"name": "pool1", "type": "avgpool2d", "size": 2, "stride": 1, "padding": 1},
        conv("conv2", 4, 1, 1, 0, "sigmoid"),
        {"name": "gap", "type": "global_avgpool2d"},
        dense("fc1", 3, "softmax")]}, 3, 1502))
    C.append(layer_case("stack_dense_relu_tanh_sigmoid", {"input": [6], "layers": [
        dense("fc1", 5, "relu"), dense("fc2", 4, "tanh"), dense("fc3", 3, "sigmoid")]}, 3, 1503))
    return doc


# --------------------------------------------------------------------------
# 2. loss cases
# --------------------------------------------------------------------------

def loss_case(name, loss, inp, target):
    B, K = inp.shape
    x = inp.clone().requires_grad_(True)
    if loss == "cross_entropy":
        l = F.cross_entropy(x, target)
        tjson = target.tolist()
    else:
        tgt = target.reshape(B, K)
        l = loss_fn(loss, x, x, tgt)
        tjson = f32(tgt)
    l.backward()
    return {"kind": "loss", "name": name, "loss": loss, "batch": B, "units": K,
            "input": f32(inp), "target": tjson,
            "loss_value": float(np.float32(l.item())), "grad": f32(x.grad)}


def gen_losses():
    doc = header()
    C = doc["cases"]
    torch.manual_seed(2000)
    # cross_entropy
    C.append(loss_case("cross_entropy", "cross_entropy", randn(4, 5, scale=2.0),
                       torch.randint(0, 5, (4,))))
    logits = torch.tensor([[50.0, -50.0, 0.0, 49.0],
                           [-50.0, 50.0, -50.0, 50.0],
                           [-50.0, -49.5, 50.0, 0.0]], dtype=DTYPE)
    # row 0 target has the largest logit, row 1 ties for largest, row 2 target
    # is at -50 while another class is at +50 (loss ~100)
    C.append(loss_case("cross_entropy_large_logits", "cross_entropy", logits,
                       torch.tensor([0, 3, 0])))
    C.append(loss_case("cross_entropy_batch1_k2", "cross_entropy", randn(1, 2), torch.tensor([1])))
    # binary_cross_entropy (with logits)
    C.append(loss_case("binary_cross_entropy", "binary_cross_entropy", randn(3, 4, scale=2.0),
                       torch.randint(0, 2, (3, 4)).to(DTYPE)))
    big = torch.tensor([[40.0, -40.0, 40.0], [-40.0, 0.5, -30.0]], dtype=DTYPE)
    C.append(loss_case("binary_cross_entropy_large_logits", "binary_cross_entropy", big,
                       torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], dtype=DTYPE)))
    # mse
    C.append(loss_case("mse", "mse", randn(3, 4), randn(3, 4)))
    # mae: |input - target| > 1e-3 everywhere
    while True:
        a, b = randn(3, 4), randn(3, 4)
        if bool(((a - b).abs() > MARGIN).all()):
            break
    C.append(loss_case("mae", "mae", a, b))
    # huber: |d| on both sides of delta=1, at least 0.05 away from it
    while True:
        a, b = randn(4, 3, scale=1.5), randn(4, 3, scale=1.5)
        d = (a - b).abs()
        if bool(((d - 1.0).abs() >= 0.05).all()) and int((d < 1).sum()) >= 3 and int((d > 1).sum()) >= 3:
            break
    C.append(loss_case("huber", "huber", a, b))
    return doc


# --------------------------------------------------------------------------
# 3. optimiser cases
# --------------------------------------------------------------------------

OPTIMIZERS = [
    ("sgd", {"type": "sgd", "lr": 0.1, "momentum": 0, "nesterov": False, "weight_decay": 0}),
    ("sgd_momentum", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0}),
    ("sgd_nesterov", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0}),
    ("sgd_momentum_wd", {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.01}),
    ("adam", {"type": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0}),
    ("adam_wd", {"type": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01}),
    ("adamw", {"type": "adamw", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01}),
]

MLP = {"input": [6], "layers": [dense("fc1", 5, "relu"), dense("fc2", 3, "softmax")]}


def gen_optim():
    doc = header()
    B, steps = 4, 3
    torch.manual_seed(3000)
    for attempt in range(1000):
        model = Model(MLP)
        x = randn(B, 6)
        labels = torch.randint(0, 3, (B,))
        runs = [train_run(model, [(x, labels)] * steps, "cross_entropy", cfg, (6,))
                for _, cfg in OPTIMIZERS]
        if all(r["violations"] == 0 for r in runs):
            break
    else:
        raise RuntimeError("optim: could not avoid kinks")
    for (name, cfg), r in zip(OPTIMIZERS, runs):
        doc["cases"].append({
            "kind": "optim", "name": "mlp_" + name, "architecture": MLP,
            "params": params_json(model.params), "x": f32(x), "labels": labels.tolist(),
            "batch": B, "loss": "cross_entropy", "optimizer": cfg, "steps": steps,
            "losses": [float(np.float32(v)) for v in r["losses"]],
            "params_after": [params_json(p) for p in r["params_after"]]})
    return doc


# --------------------------------------------------------------------------
# 4. end-to-end training cases
# --------------------------------------------------------------------------

CNN = {"input": [1, 8, 8], "layers": [
    conv("conv1", 4, 3, 1, 1, "relu"),
    {"name": "pool1", "type": "maxpool2d", "size": 2},
    conv("conv2", 6, 3, 1, 1, "relu"),
    {"name": "pool2", "type": "maxpool2d", "size": 2},
    {"name": "flat", "type": "flatten"},
    dense("fc1", 10, "relu"),
    dense("fc2", 3, "softmax")]}

REG = {"input": [4], "layers": [dense("fc1", 8, "tanh"), dense("fc2", 2, "linear")]}


def gen_train():
    doc = header()
    # --- CNN classifier.  Each batch is only ever evaluated at the params
    # current at its step, so samples are drawn one by one and rejected if
    # they come within MARGIN of a relu kink or maxpool tie at those params.
    torch.manual_seed(4000)
    opt_cfg = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 0}
    model = Model(CNN)
    init = {k: v.clone() for k, v in model.params.items()}
    templates = randn(3, 1, 8, 8)           # one pattern per class: learnable data
    params = {k: v.clone().requires_grad_(True) for k, v in model.params.items()}
    opt = make_optimizer(opt_cfg, list(params.values()))
    batches = []
    for step in range(4):
        xs, ls = [], []
        while len(xs) < 5:
            lab = int(torch.randint(0, 3, (1,)))
            x = r32(templates[lab] + 0.7 * torch.randn(1, 8, 8, dtype=DTYPE))
            rec = []
            with torch.no_grad():
                model.forward(x.unsqueeze(0), params, rec)
            if violations(rec) == 0:
                xs.append(x)
                ls.append(lab)
        x, labels = torch.stack(xs), torch.tensor(ls)
        batches.append((x, labels))
        opt.zero_grad()
        y, z = model.forward(x, params)
        F.cross_entropy(z, labels).backward()
        opt.step()
    model.params = init
    r = train_run(model, batches, "cross_entropy", opt_cfg, (1, 8, 8))
    assert r["violations"] == 0
    doc["cases"].append(train_json("cnn_sgd_momentum", CNN, init, opt_cfg, "cross_entropy",
                                   [{"x": f32(x), "labels": l.tolist()} for x, l in batches], 5, r))

    # --- regression MLP, targets a fixed smooth function of x
    torch.manual_seed(4100)
    opt_cfg = {"type": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0}
    model = Model(REG)
    A = torch.randn(4, 2, dtype=DTYPE)
    batches = []
    for _ in range(3):
        x = randn(5, 4)
        t = r32(torch.sin(x @ A) + 0.5)
        batches.append((x, t))
    r = train_run(model, batches, "mse", opt_cfg, (4,))
    doc["cases"].append(train_json("mlp_regression_adam", REG, model.params, opt_cfg, "mse",
                                   [{"x": f32(x), "targets": f32(t)} for x, t in batches], 5, r))
    return doc


def train_json(name, arch, init, opt_cfg, loss, batches, B, r):
    return {"kind": "train", "name": name, "architecture": arch, "params": params_json(init),
            "optimizer": opt_cfg, "loss": loss, "batches": batches, "batch": B,
            "y0": f32(r["y0"]), "grads0": params_json(r["grads0"]),
            "losses": [float(np.float32(v)) for v in r["losses"]],
            "params_after": params_json(r["params_after"][-1])}


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def dumps(obj, ind=0):
    """JSON with one key per line; number arrays and short objects inline."""
    flat = json.dumps(obj, allow_nan=False)
    if not isinstance(obj, (dict, list)) or len(flat) <= 120 or \
            (isinstance(obj, list) and all(is_num(v) for v in obj)):
        return flat
    pad = "  " * (ind + 1)
    if isinstance(obj, dict):
        body = ",\n".join("%s%s: %s" % (pad, json.dumps(k), dumps(v, ind + 1)) for k, v in obj.items())
        return "{\n" + body + "\n" + "  " * ind + "}"
    body = ",\n".join(pad + dumps(v, ind + 1) for v in obj)
    return "[\n" + body + "\n" + "  " * ind + "]"


FILES = [("layers.json", gen_layers), ("losses.json", gen_losses),
         ("optim.json", gen_optim), ("cnn.json", gen_train)]


# --------------------------------------------------------------------------
# verification (rebuild everything from the JSON alone)
# --------------------------------------------------------------------------

class Checker:
    def __init__(self):
        self.n = 0
        self.errors = []

    def close(self, what, got, want, rtol, atol):
        self.n += 1
        got = np.asarray(got, dtype=np.float64).reshape(-1)
        want = np.asarray(want, dtype=np.float64).reshape(-1)
        if got.shape != want.shape:
            self.errors.append("%s: shape %s vs %s" % (what, got.shape, want.shape))
            return
        err = np.abs(got - want) - (atol + rtol * np.abs(want))
        if (err > 0).any():
            i = int(np.argmax(err))
            self.errors.append("%s: [%d] %r vs %r" % (what, i, got[i], want[i]))

    def exact32(self, what, got, want):
        """Recomputed in float64 then rounded to float32: must match the
        stored float32 to within 1 float32 ulp."""
        g = np.float32(np.asarray(got, dtype=np.float64).reshape(-1))
        w = np.asarray(want, dtype=np.float32).reshape(-1)
        self.n += 1
        if g.shape != w.shape:
            self.errors.append("%s: shape %s vs %s" % (what, g.shape, w.shape))
            return
        ulp = np.abs(g.view(np.int32).astype(np.int64) - w.view(np.int32).astype(np.int64))
        same_sign = np.sign(g) == np.sign(w)
        if not ((ulp <= 1) & same_sign | (g == w)).all():
            i = int(np.argmax(ulp))
            self.errors.append("%s: [%d] %r vs %r" % (what, i, g[i], w[i]))

    def true(self, what, cond):
        self.n += 1
        if not cond:
            self.errors.append(what)


# ---- independent naive numpy implementation of the layers ----

def np_act(z, spec):
    a = spec.get("activation", "linear")
    if a == "linear":
        return z
    if a == "relu":
        return np.maximum(z, 0)
    if a == "leaky_relu":
        return np.where(z > 0, z, spec.get("negative_slope", 0.01) * z)
    if a == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if a == "tanh":
        return np.tanh(z)
    if a == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(a)


def np_windows(x, k, s, p, fill):
    """Yields (u, v, patch) with patch[b,c,i,j] = xpad[b,c,i*sh+u,j*sw+v]."""
    B, C, H, W = x.shape
    Ho, Wo = out_len(H, k[0], s[0], p[0]), out_len(W, k[1], s[1], p[1])
    xp = np.full((B, C, H + 2 * p[0], W + 2 * p[1]), fill)
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    for u in range(k[0]):
        for v in range(k[1]):
            yield u, v, xp[:, :, u:u + s[0] * (Ho - 1) + 1:s[0], v:v + s[1] * (Wo - 1) + 1:s[1]]


def np_forward(arch, P, x):
    for i, L in enumerate(arch["layers"]):
        t, n = L["type"], L.get("name", "%s_%d" % (L["type"], i))
        if t == "dense":
            assert x.ndim == 2
            z = x @ P[n + ".weight"].T + P[n + ".bias"]
        elif t == "conv2d":
            k, s, p = pair(L["kernel"]), pair(L.get("stride", 1)), pair(L.get("padding", 0))
            Wt = P[n + ".weight"]
            z = None
            for u, v, patch in np_windows(x, k, s, p, 0.0):
                term = np.einsum("fc,bchw->bfhw", Wt[:, :, u, v], patch)
                z = term if z is None else z + term
            z = z + P[n + ".bias"][None, :, None, None]
        elif t in ("maxpool2d", "avgpool2d"):
            k, s, p = pair(L["size"]), pair(L.get("stride", L["size"])), pair(L.get("padding", 0))
            mx = t == "maxpool2d"
            z = None
            for _, _, patch in np_windows(x, k, s, p, -np.inf if mx else 0.0):
                z = patch.copy() if z is None else (np.maximum(z, patch) if mx else z + patch)
            if not mx:
                z = z / (k[0] * k[1])
        elif t == "global_avgpool2d":
            z = x.mean(axis=(2, 3))
        elif t == "flatten":
            z = x.reshape(x.shape[0], -1)
        x = np_act(z, L)
    return x


def np_params(arch, params):
    m = Model(arch)
    return {k: np.asarray(params[k], dtype=np.float64).reshape(tuple(m.params[k].shape))
            for k in m.params}


def verify_layer(ck, c):
    tag = "layers/" + c["name"]
    arch, B = c["architecture"], c["batch"]
    m = Model(arch)
    m.load(c["params"])
    ck.true(tag + ": output_shape", list(m.output_shape) == c["output_shape"])
    in_shape = tuple(arch["input"])
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor(c["x"], dtype=dtype).reshape(B, *in_shape).requires_grad_(True)
        P = {k: v.detach().to(dtype).clone().requires_grad_(True) for k, v in m.params.items()}
        dy = torch.tensor(c["dy"], dtype=dtype).reshape(B, *m.output_shape)
        rec = []
        y, _ = m.forward(x, P, rec)
        (y * dy).sum().backward()
        if dtype == torch.float64:
            ck.true(tag + ": kink/tie margin", violations(rec) == 0)
            ck.exact32(tag + ": y", y.detach().numpy(), c["y"])
            ck.exact32(tag + ": dx", x.grad.numpy(), c["dx"])
            for k in P:
                ck.exact32(tag + ": grad " + k, P[k].grad.numpy(), c["grads"][k])
        else:
            ck.close(tag + ": y f32", y.detach().numpy(), c["y"], 1e-4, 1e-5)
            ck.close(tag + ": dx f32", x.grad.numpy(), c["dx"], 1e-4, 1e-5)
            for k in P:
                ck.close(tag + ": grad f32 " + k, P[k].grad.numpy(), c["grads"][k], 1e-4, 1e-5)
    ck.true(tag + ": grads keys", sorted(c["grads"]) == sorted(m.params) == sorted(c["params"]))
    # independent numpy forward + finite differences
    Pn = np_params(arch, c["params"])
    xn = np.asarray(c["x"], dtype=np.float64).reshape(B, *in_shape)
    dyn = np.asarray(c["dy"], dtype=np.float64).reshape(B, *m.output_shape)
    ck.close(tag + ": y numpy", np_forward(arch, Pn, xn), c["y"], 1e-6, 1e-7)
    rng = np.random.default_rng(0)
    eps = 1e-6

    def fd(arr, want, what):
        flat = arr.reshape(-1)
        idx = rng.choice(flat.size, size=min(16, flat.size), replace=False)
        got = []
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            fp = (np_forward(arch, Pn, xn) * dyn).sum()
            flat[i] = old - eps
            fm = (np_forward(arch, Pn, xn) * dyn).sum()
            flat[i] = old
            got.append((fp - fm) / (2 * eps))
        ck.close(tag + ": finite diff " + what, got, np.asarray(want)[idx], 1e-4, 1e-6)

    fd(xn, c["dx"], "dx")
    for k in Pn:
        fd(Pn[k], c["grads"][k], k)


def np_loss(loss, x, t):
    """Independent loss value and d loss / d input (mean reductions)."""
    B, K = x.shape
    if loss == "cross_entropy":
        z = x - x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        logp = z - lse
        onehot = np.eye(K)[t]
        return -(logp * onehot).sum() / B, (np.exp(logp) - onehot) / B
    n = B * K
    if loss == "binary_cross_entropy":
        v = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        return v.sum() / n, (1 / (1 + np.exp(-x)) - t) / n
    d = x - t
    if loss == "mse":
        return (d * d).sum() / n, 2 * d / n
    if loss == "mae":
        return np.abs(d).sum() / n, np.sign(d) / n
    if loss == "huber":
        a = np.abs(d)
        return np.where(a <= 1, 0.5 * d * d, a - 0.5).sum() / n, np.clip(d, -1, 1) / n
    raise ValueError(loss)


def verify_loss(ck, c):
    tag = "losses/" + c["name"]
    B, K = c["batch"], c["units"]
    x = torch.tensor(c["input"], dtype=DTYPE).reshape(B, K).requires_grad_(True)
    if c["loss"] == "cross_entropy":
        ck.true(tag + ": int labels", all(isinstance(v, int) and 0 <= v < K for v in c["target"])
                and len(c["target"]) == B)
        t = torch.tensor(c["target"])
        tn = np.asarray(c["target"])
    else:
        t = torch.tensor(c["target"], dtype=DTYPE).reshape(B, K)
        tn = t.numpy()
    l = loss_fn(c["loss"], x, x, t)
    l.backward()
    ck.exact32(tag + ": loss_value", [l.item()], [c["loss_value"]])
    ck.exact32(tag + ": grad", x.grad.numpy(), c["grad"])
    v, g = np_loss(c["loss"], np.asarray(c["input"], dtype=np.float64).reshape(B, K), tn)
    ck.close(tag + ": loss numpy", [v], [c["loss_value"]], 1e-6, 1e-7)
    ck.close(tag + ": grad numpy", g, c["grad"], 1e-6, 1e-9)
    if c["loss"] in ("mae", "huber"):
        d = np.asarray(c["input"]) - np.asarray(c["target"], dtype=np.float64)
    if c["loss"] == "mae":
        ck.true(tag + ": |d| > margin", (np.abs(d) > MARGIN).all())
    if c["loss"] == "huber":
        ck.true(tag + ": both sides of delta", (np.abs(d) < 1).any() and (np.abs(d) > 1).any()
                and (np.abs(np.abs(d) - 1) >= 0.01).all())


def np_optimizer_run(cfg, P, grad_fn, steps):
    """Hand-written reference update rules (what the C side should do).
    grad_fn(P) -> (loss, grads dict).  Returns losses, params after each step."""
    lr, wd = cfg["lr"], cfg["weight_decay"]
    state = {k: {} for k in P}
    losses, after = [], []
    for t in range(1, steps + 1):
        loss, G = grad_fn(P, t - 1)
        losses.append(loss)
        for k in P:
            p, g = P[k], G[k].copy()
            s = state[k]
            if cfg["type"] == "sgd":
                mu = cfg["momentum"]
                if wd:
                    g = g + wd * p                       # L2 into the gradient
                if mu:
                    s["buf"] = g.copy() if t == 1 else mu * s["buf"] + g
                    g = g + mu * s["buf"] if cfg["nesterov"] else s["buf"]
                P[k] = p - lr * g
            else:
                b1, b2, eps = cfg["beta1"], cfg["beta2"], cfg["eps"]
                if cfg["type"] == "adamw":
                    p = p * (1 - lr * wd)                # decoupled decay
                elif wd:
                    g = g + wd * p                       # adam: L2 into the gradient
                s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
                mhat = s["m"] / (1 - b1 ** t)
                vhat = s["v"] / (1 - b2 ** t)
                P[k] = p - lr * mhat / (np.sqrt(vhat) + eps)
        after.append({k: v.copy() for k, v in P.items()})
    return losses, after


def torch_grad_fn(model, batches, loss, in_shape):
    def fn(P, i):
        x, tgt = batches[i]
        Pt = {k: torch.tensor(v).requires_grad_(True) for k, v in P.items()}
        y, z = model.forward(x.reshape(-1, *in_shape), Pt)
        t = tgt if tgt.dtype == torch.long else tgt.reshape(y.shape)
        l = loss_fn(loss, y, z, t)
        l.backward()
        return l.item(), {k: v.grad.numpy().copy() for k, v in Pt.items()}
    return fn


def load_batches(c):
    out = []
    for b in c["batches"]:
        x = torch.tensor(b["x"], dtype=DTYPE)
        t = torch.tensor(b["labels"]) if "labels" in b else torch.tensor(b["targets"], dtype=DTYPE)
        out.append((x, t))
    return out


def verify_optim(ck, c):
    tag = "optim/" + c["name"]
    m = Model(c["architecture"])
    m.load(c["params"])
    in_shape = tuple(c["architecture"]["input"])
    batch = (torch.tensor(c["x"], dtype=DTYPE), torch.tensor(c["labels"]))
    ck.true(tag + ": sizes", len(c["labels"]) == c["batch"] and len(c["losses"]) == c["steps"]
            == len(c["params_after"]))
    r = train_run(m, [batch] * c["steps"], c["loss"], c["optimizer"], in_shape)
    ck.true(tag + ": kink margin", r["violations"] == 0)
    ck.exact32(tag + ": losses", r["losses"], c["losses"])
    for s in range(c["steps"]):
        for k in m.params:
            ck.exact32(tag + ": step %d %s" % (s + 1, k), r["params_after"][s][k].numpy(),
                       c["params_after"][s][k])
    r32_ = train_run(m, [batch] * c["steps"], c["loss"], c["optimizer"], in_shape, torch.float32)
    ck.close(tag + ": losses f32", r32_["losses"], c["losses"], 1e-4, 1e-6)
    for k in m.params:
        ck.close(tag + ": params f32 " + k, r32_["params_after"][-1][k].numpy(),
                 c["params_after"][-1][k], 1e-4, 1e-5)
    P = np_params(c["architecture"], c["params"])
    losses, after = np_optimizer_run(c["optimizer"], P,
                                     torch_grad_fn(m, [batch] * c["steps"], c["loss"], in_shape),
                                     c["steps"])
    ck.close(tag + ": losses (numpy optimiser)", losses, c["losses"], 1e-6, 1e-7)
    for s in range(c["steps"]):
        for k in P:
            ck.close(tag + ": numpy optimiser step %d %s" % (s + 1, k), after[s][k],
                     c["params_after"][s][k], 1e-6, 1e-7)


def verify_train(ck, c):
    tag = "train/" + c["name"]
    arch = c["architecture"]
    m = Model(arch)
    m.load(c["params"])
    in_shape = tuple(arch["input"])
    batches = load_batches(c)
    ck.true(tag + ": sizes", all(len(b[0]) == c["batch"] * int(np.prod(in_shape)) for b in batches)
            and len(c["losses"]) == len(batches))
    r = train_run(m, batches, c["loss"], c["optimizer"], in_shape)
    ck.true(tag + ": kink margin", r["violations"] == 0)
    ck.exact32(tag + ": y0", r["y0"].numpy(), c["y0"])
    ck.close(tag + ": y0 numpy", np_forward(arch, np_params(arch, c["params"]),
                                            batches[0][0].numpy().reshape(-1, *in_shape)),
             c["y0"], 1e-6, 1e-7)
    ck.exact32(tag + ": losses", r["losses"], c["losses"])
    for k in m.params:
        ck.exact32(tag + ": grads0 " + k, r["grads0"][k].numpy(), c["grads0"][k])
        ck.exact32(tag + ": params_after " + k, r["params_after"][-1][k].numpy(), c["params_after"][k])
    r32_ = train_run(m, batches, c["loss"], c["optimizer"], in_shape, torch.float32)
    ck.close(tag + ": losses f32", r32_["losses"], c["losses"], 1e-4, 1e-6)
    for k in m.params:
        ck.close(tag + ": params f32 " + k, r32_["params_after"][-1][k].numpy(),
                 c["params_after"][k], 1e-4, 1e-5)
    P = np_params(arch, c["params"])
    losses, after = np_optimizer_run(c["optimizer"], P,
                                     torch_grad_fn(m, batches, c["loss"], in_shape), len(batches))
    ck.close(tag + ": losses (numpy optimiser)", losses, c["losses"], 1e-6, 1e-7)
    for k in P:
        ck.close(tag + ": numpy optimiser " + k, after[-1][k], c["params_after"][k], 1e-6, 1e-7)


def exact_floats(ck, path, obj):
    """Every stored float must be exactly a float32 value."""
    bad = []

    def walk(v):
        if isinstance(v, float):
            if float(np.float32(v)) != v and not bad:
                bad.append(v)
        elif isinstance(v, dict):
            for k, w in v.items():
                if k not in ("optimizer", "architecture"):   # hyperparameters are plain decimals
                    walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)
    walk(obj)
    ck.true("%s: all floats float32-exact %r" % (path, bad[:1]), not bad)


def verify(out_dir):
    ck = Checker()
    kinds = {}
    for fname, _ in FILES:
        path = os.path.join(out_dir, fname)
        with open(path) as f:
            doc = json.load(f)
        ck.true(fname + ": header", doc["generator"] == GENERATOR and "torch_version" in doc)
        exact_floats(ck, fname, doc["cases"])
        for c in doc["cases"]:
            kinds.setdefault(c["kind"], 0)
            kinds[c["kind"]] += 1
            {"layer": verify_layer, "loss": verify_loss, "optim": verify_optim,
             "train": verify_train}[c["kind"]](ck, c)
    for e in ck.errors:
        print("VERIFY FAIL", e)
    print("verify: %d checks, %d failed; cases %s" % (ck.n, len(ck.errors), kinds))
    return not ck.errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default tests/fixtures)")
    ap.add_argument("--check", action="store_true", help="only verify the existing files")
    a = ap.parse_args()
    if not a.check:
        os.makedirs(a.out, exist_ok=True)
        for fname, gen in FILES:
            text = dumps(gen()) + "\n"
            with open(os.path.join(a.out, fname), "w") as f:
                f.write(text)
            print("wrote %s (%d bytes, sha256 %s)" % (os.path.join(a.out, fname), len(text),
                                                      hashlib.sha256(text.encode()).hexdigest()[:16]))
    sys.exit(0 if verify(a.out) else 1)


if __name__ == "__main__":
    main()
