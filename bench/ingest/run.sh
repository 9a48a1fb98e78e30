#!/usr/bin/env bash
# Dataset ingest benchmarks beside pandas / PIL / numpy (see bench.py).
#   bench/ingest/run.sh                 CSV, PNG tar, IDX; best of 3
#   BENCH_BIG=1 bench/ingest/run.sh     also a ~1 GB CSV (memory stays bounded)
# Needs: make (build/finetuned), python3-pandas, dataset-fashion-mnist;
# python3-pil for the PNG peer figure. Inputs go to /tmp, not the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FT_BUILD=${FT_BUILD:-build}
exec /usr/bin/python3 bench/ingest/bench.py
