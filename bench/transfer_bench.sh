#!/usr/bin/env bash
# The transfer-learning benchmark's speed, finetuned vs PyTorch in the same
# run (docs/design.md protocol), with 1 and with 2 threads on both sides (THREADS
# overrides): pretraining the base on the 30,000 images of classes 0-4 (3
# epochs), and the "drop 2, frozen, he" fine-tune on 500 images (30 epochs).
# Times count the training loop only (our train_seconds, which includes
# building the frozen-prefix cache).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FT_BUILD:-build}/finetuned
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
train="\"images\": \"$F/train-images-idx3-ubyte.gz\", \"labels\": \"$F/train-labels-idx1-ubyte.gz\""
sgd='{"type": "sgd", "lr": 0.01, "momentum": 0.9}'

cat >"$TMP/base.json" <<JSON
{"dataset": {$train, "classes": [0, 1, 2, 3, 4]},
 "architecture": {"input": [1, 28, 28], "layers": [
  {"name": "conv1", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
  {"type": "maxpool2d", "size": 2},
  {"name": "conv2", "type": "conv2d", "filters": 32, "kernel": 3, "padding": 1, "activation": "relu"},
  {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
  {"name": "hidden", "type": "dense", "units": 128, "activation": "relu"},
  {"name": "output", "type": "dense", "units": 5, "activation": "softmax"}]},
 "init": "torch_default", "optimizer": $sgd, "batch_size": 64, "epochs": 3, "seed": 42}
JSON
cat >"$TMP/finetune.json" <<JSON
{"dataset": {$train, "classes": [5, 6, 7, 8, 9], "per_class": 100, "seed": 0},
 "base_model": "$TMP/base.safetensors", "drop_layers": 2, "freeze": "base", "head": {"hidden": [128]},
 "init": "he_normal", "optimizer": $sgd, "batch_size": 64, "epochs": 30, "seed": 42}
JSON
printf '%-34s %7s %14s %14s %9s\n' step threads "finetuned (s)" "pytorch (s)" speed-up
for threads in ${THREADS:-1 2}; do
    ours_base=$("$BIN" train "$TMP/base.json" --out "$TMP/base.safetensors" --threads "$threads" 2>/dev/null |
        tail -n 1 | jq .train_seconds)
    ours_ft=$(for _ in 1 2 3; do
        "$BIN" train "$TMP/finetune.json" --out "$TMP/ft.safetensors" --threads "$threads" 2>/dev/null |
            tail -n 1 | jq .train_seconds
    done | sort -g | head -n 1)
    torch=$(/usr/bin/python3 bench/torch_transfer.py --threads "$threads")
    torch_base=$(jq -r 'select(.variant == "base") | .seconds' <<<"$torch")
    torch_ft=$(jq -r 'select(.variant == "drop 2 (output + last hidden), frozen, he") | .seconds' <<<"$torch")
    printf '%-34s %7d %14.2f %14.2f %8.1fx\n' "pretrain base (30k images, 3 ep)" "$threads" "$ours_base" \
        "$torch_base" "$(jq -n "$torch_base / $ours_base")"
    printf '%-34s %7d %14.3f %14.3f %8.1fx\n' "fine-tune drop 2 frozen he (500)" "$threads" "$ours_ft" \
        "$torch_ft" "$(jq -n "$torch_ft / $ours_ft")"
done
