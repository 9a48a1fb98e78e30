#!/usr/bin/env bash
# make bench: every benchmark, each printing finetuned beside its peer
# measured in the same run. Needs python3-torch (and wrk, python3-pandas for
# the service and ingest benchmarks). Results go into bench/RESULTS.md by hand,
# with the date, the command and the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== training throughput (bench/train_bench.sh)"
bench/train_bench.sh
echo
echo "== transfer learning (bench/transfer_bench.sh)"
bench/transfer_bench.sh
echo
echo "== ONNX inference (bench/onnx_bench.sh)"
bench/onnx_bench.sh
echo
echo "== fine-tuning resnet18's last block (bench/finetune_bench.sh)"
bench/finetune_bench.sh
for b in bench/http_bench.sh bench/ingest/run.sh; do
    if [ -x "$b" ]; then
        echo
        echo "== $b"
        "$b"
    fi
done
