#!/usr/bin/env bash
# Inference speed of an imported network (issue 12): torchvision's resnet18
# (random weights, seed 0, exported at opset 13) forward at 224x224, images/s
# at each batch size and thread count, finetuned beside onnxruntime-node and
# PyTorch in the same run, with the ratios; then finetuned's peak RSS while
# extracting the 512-d pooled features at batch 32.
#   BATCHES (default "16 32"), THREADS ("1 2"), RUNS (5: each engine's figure
#   in a round is the best of RUNS timed runs after one warm-up run, for every
#   engine alike), ROUNDS (3: the engines take turns ROUNDS times and each
#   keeps its best round, so that a slow spell of a shared machine, which
#   can last tens of seconds, does not fall on one engine only).
# Needs `make bench-tools` (build/bench/onnx_forward), /usr/bin/python3 with
# python3-torch and python3-torchvision, and onnxruntime-node (tools/ci,
# `npm ci --prefix tools/ci`; ORT_MODULES overrides its node_modules folder).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FT_BUILD:-build}
OURS=$BUILD/bench/onnx_forward
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-3}
export NODE_PATH=${ORT_MODULES:-$PWD/tools/ci/node_modules}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
model=$TMP/resnet18.onnx
/usr/bin/python3 bench/torch_infer.py export "$model"

# One JSON line per engine; every engine gets the same thread count through
# its own knob, and OpenBLAS's through OPENBLAS_NUM_THREADS.
rate() { jq -r .images_per_s; }
best() { jq -n "[$1, $2] | max"; }
printf '%-6s %7s %10s %10s %10s %9s %9s\n' batch threads finetuned onnxrt pytorch "vs ort" "vs torch"
for threads in ${THREADS:-1 2}; do
    for batch in ${BATCHES:-16 32}; do
        torch=0 ort=0 ours=0
        for _ in $(seq "$ROUNDS"); do
            torch=$(best "$torch" "$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 bench/torch_infer.py run \
                "$batch" "$threads" "$RUNS" | rate)")
            ort=$(best "$ort" "$(node bench/ort_bench.js "$model" "$batch" "$threads" "$RUNS" | rate)")
            ours=$(best "$ours" "$(OPENBLAS_NUM_THREADS=$threads "$OURS" "$model" "$batch" "$RUNS" | rate)")
        done
        printf '%-6d %7d %10.1f %10.1f %10.1f %8.2fx %8.2fx\n' "$batch" "$threads" "$ours" "$ort" "$torch" \
            "$(jq -n "$ours / $ort")" "$(jq -n "$ours / $torch")"
    done
done
echo
echo "finetuned: $(OPENBLAS_NUM_THREADS=1 "$OURS" --corename)"
# Feature extraction: everything but fc, batch 32, over 8 batches.
OPENBLAS_NUM_THREADS=${FEATURE_THREADS:-2} "$OURS" --features "$model" 32 8 |
    jq -r '"feature extraction (batch \(.batch), \(.images) images, \(.features)-d): " +
           "\(.images_per_s | floor) images/s, peak RSS \(.peak_rss_mb) MB"'
