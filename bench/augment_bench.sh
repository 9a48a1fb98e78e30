#!/usr/bin/env bash
# Augmentation and the frozen-prefix cache (docs/design.md, "augment"): the
# real transfer of issue 12 (tests/fixtures/onnx/fmnist_resnet_0to4.onnx, the
# residual network pretrained on Fashion-MNIST 0-4, cut before its global
# pool; photos of classes 5-9, 100 per class, validated on 500 test photos),
# a softmax head trained 20 epochs with Adam 1e-3, three ways:
#   none     no augmentation: the frozen layers run once (feature cache)
#   bypass   augment with "views": 0: fresh draws every epoch, the frozen
#            layers run on every batch (the validation rows stay cached)
#   views=K  augment with K precomputed views (augment.views; 4 is the default)
# Prints wall seconds per epoch (train_seconds / epochs: the cache build
# included), the CPU seconds of the whole run (user + system: steadier than
# wall time on a shared machine; loading and resizing the photos, about the
# same in every variant, included) and the final validation accuracy, per
# seed and averaged.
# SEEDS (default "1 2 3"), THREADS (default 1), VIEWS (default 4) override.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FT_BUILD:-build}/finetuned
TMP=$(mktemp -d /tmp/augment_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FIX=tests/fixtures/onnx/fmnist_resnet_0to4
(cd tools/fixtures && /usr/bin/python3 fmnist_photos.py "$TMP" >/dev/null)
"$BIN" import-onnx "$FIX.onnx" "$TMP/base.safetensors" --preprocess "$(jq -c .preprocess "$FIX.json")" >/dev/null
AUG='"hflip": true, "crop": {"padding": 4}, "brightness": 0.1, "contrast": 0.1'
VIEWS=${VIEWS:-4}
declare -A augment=([none]='null' [bypass]="{$AUG, \"views\": 0}" ["views=$VIEWS"]="{$AUG, \"views\": $VIEWS}")
printf '%-10s %5s %7s %12s %12s %14s\n' variant seed threads "s / epoch" "CPU s (run)" "val accuracy"
for variant in none bypass "views=$VIEWS"; do
    sum_s=0 sum_cpu=0 sum_acc=0 n=0
    for seed in ${SEEDS:-1 2 3}; do
        cat >"$TMP/spec.json" <<JSON
{"dataset": "$TMP/fmnist_5to9_train.zip", "validation": "$TMP/fmnist_5to9_test.zip",
 "base_model": "$TMP/base.safetensors", "drop_layers": 2, "freeze": "base", "head": {"output": "softmax"},
 "optimizer": {"type": "adam", "lr": 0.001}, "batch_size": 64, "epochs": 20, "seed": $seed,
 "augment": ${augment[$variant]}}
JSON
        /usr/bin/time -o "$TMP/cpu" -f '%U %S' \
            "$BIN" train "$TMP/spec.json" --out "$TMP/m.safetensors" --threads "${THREADS:-1}" >"$TMP/out" 2>/dev/null
        s=$(tail -n 1 "$TMP/out" | jq '.train_seconds / .epochs')
        cpu=$(awk '{print $1 + $2}' "$TMP/cpu")
        acc=$(grep '"epoch":20,' "$TMP/out" | jq .val_accuracy)
        printf '%-10s %5d %7d %12.3f %12.1f %14.3f\n' "$variant" "$seed" "${THREADS:-1}" "$s" "$cpu" "$acc"
        sum_s=$(jq -n "$sum_s + $s") sum_cpu=$(jq -n "$sum_cpu + $cpu") sum_acc=$(jq -n "$sum_acc + $acc")
        n=$((n + 1))
    done
    printf '%-10s %5s %7d %12.3f %12.1f %14.3f\n' "$variant" mean "${THREADS:-1}" "$(jq -n "$sum_s / $n")" \
        "$(jq -n "$sum_cpu / $n")" "$(jq -n "$sum_acc / $n")"
done
