#!/usr/bin/env bash
# Training throughput, finetuned vs PyTorch, same machine, same run: the MLP
# and the CNN of docs/design.md on Fashion-MNIST's 60,000 training images, batch
# 64 and 256, 1 and 2 threads, one epoch each (best of REPEAT runs).
# Prints one row per configuration with both samples/s and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FT_BUILD:-build}/finetuned
REPEAT=${REPEAT:-3}
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

layers_mlp='[{"type": "flatten"}, {"type": "dense", "units": 256, "activation": "relu"},
  {"type": "dense", "units": 128, "activation": "relu"}, {"type": "dense", "units": 10, "activation": "softmax"}]'
layers_cnn='[{"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
  {"type": "maxpool2d", "size": 2},
  {"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1, "activation": "relu"},
  {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
  {"type": "dense", "units": 128, "activation": "relu"}, {"type": "dense", "units": 10, "activation": "softmax"}]'

best() { sort -g | tail -n 1; }

printf '%-5s %6s %8s %16s %16s %7s\n' model batch threads "finetuned (s/s)" "pytorch (s/s)" ratio
for model in mlp cnn; do
    for batch in 64 256; do
        for threads in 1 2; do
            layers=layers_$model
            cat >"$TMP/spec.json" <<JSON
{"dataset": {"images": "$F/train-images-idx3-ubyte.gz", "labels": "$F/train-labels-idx1-ubyte.gz"},
 "architecture": {"input": [1, 28, 28], "layers": ${!layers}},
 "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9}, "batch_size": $batch, "epochs": 1, "seed": 1}
JSON
            ours=$(for _ in $(seq "$REPEAT"); do
                "$BIN" train "$TMP/spec.json" --out "$TMP/m.safetensors" --threads "$threads" 2>/dev/null |
                    jq -s '.[0].samples_per_second'
            done | best)
            theirs=$(for _ in $(seq "$REPEAT"); do
                /usr/bin/python3 bench/torch_train.py --model "$model" --batch "$batch" --threads "$threads" |
                    jq .samples_per_second
            done | best)
            printf '%-5s %6d %8d %16.0f %16.0f %7.2f\n' "$model" "$batch" "$threads" "$ours" "$theirs" \
                "$(jq -n "$ours / $theirs")"
        done
    done
done
