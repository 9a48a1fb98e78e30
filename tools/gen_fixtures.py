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

The code lives in tools/fixtures/: common.py (the model built from the JSON,
float32 helpers, the training loop, the JSON writer, the checker and the
naive numpy layers) and one module per file, each with its generator and its
verifier: layers.py, losses.py, optim.py, cnn.py, graph.py.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

from fixtures.cnn import gen_train, verify_train
from fixtures.common import GENERATOR, Checker, dumps
from fixtures.graph import gen_graph, verify_graph
from fixtures.layers import gen_layers, verify_layer
from fixtures.losses import gen_losses, verify_loss
from fixtures.optim import gen_optim, verify_optim

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures")

FILES = [("layers.json", gen_layers), ("losses.json", gen_losses),
         ("optim.json", gen_optim), ("cnn.json", gen_train), ("graph.json", gen_graph)]


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
             "train": verify_train, "graph": verify_graph}[c["kind"]](ck, c)
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
