#!/usr/bin/python3
"""Write a numeric CSV for the ingest benchmark.

usage: make_csv.py OUT.csv [MEGABYTES]

ROWS x 20 float features printed as numpy does (repr, ~17 significant
digits, the hardest common case for a float parser) plus an integer class
label 0..9, with a header row. Deterministic (seed 0)."""
import sys

import numpy as np


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = float(sys.argv[2]) if len(sys.argv) > 2 else 110.0
    rng = np.random.default_rng(0)
    cols = 20
    with open(sys.argv[1], "w") as f:
        f.write(",".join("f%d" % i for i in range(cols)) + ",label\n")
        written = 0
        while written < target * 1e6:
            x = rng.standard_normal((10000, cols)) * rng.choice([1.0, 10.0, 1000.0], size=cols)
            y = rng.integers(0, 10, size=10000)
            lines = "\n".join(",".join(map(repr, row.tolist())) + "," + str(label)
                              for row, label in zip(x, y)) + "\n"
            f.write(lines)
            written += len(lines)


if __name__ == "__main__":
    main()
