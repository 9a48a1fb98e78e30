#!/usr/bin/env bash
# The transfer-learning experiment of docs/design.md, end to end, with curl + jq
# against a running `finetuned serve`:
#   1. upload Fashion-MNIST (train and test IDX pairs),
#   2. pretrain the CNN base on classes 0-4,
#   3. fine-tune the eight variants on 100 images per class of classes 5-9
#      (the last in two phases: 20 epochs on the frozen base, then 10 with
#      conv2 and above unfrozen at a learning rate 100x smaller),
#   4. print the table (variant, target test accuracy, fine-tune seconds) and
#      save every job's metrics.png (and results.json) into $OUT.
#
# Usage: examples/fashion_transfer.sh [BASE_URL]      (default http://127.0.0.1:8080)
# Environment:
#   FT_API_KEY          bearer token, if the service requires one
#   OUT                 output directory (default ./fashion-transfer)
#   PRETRAIN_PER_CLASS  pretraining images per class (default: all 6000)
#   FASHION_DIR         IDX files (default /usr/share/datasets/fashion-mnist)
set -euo pipefail

URL=${1:-http://127.0.0.1:8080}
OUT=${OUT:-fashion-transfer}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
PRETRAIN_PER_CLASS=${PRETRAIN_PER_CLASS:-}
mkdir -p "$OUT"

auth=()
if [ -n "${FT_API_KEY:-}" ]; then
    auth=(-H "Authorization: Bearer $FT_API_KEY")
fi

# curl that fails on HTTP errors and shows the service's error message.
api() {
    local body
    body=$(curl -sS "${auth[@]}" -w '\n%{http_code}' "$@")
    local code=${body##*$'\n'}
    body=${body%$'\n'*}
    if [ "$code" -ge 400 ]; then
        echo "error: HTTP $code from $*: $body" >&2
        exit 1
    fi
    printf '%s' "$body"
}

submit() { api -X POST -H 'Content-Type: application/json' -d "$1" "$URL/v1/jobs" | jq -r .id; }

wait_job() {
    local status
    while :; do
        status=$(api "$URL/v1/jobs/$1" | jq -r .status)
        case $status in
        succeeded) return 0 ;;
        failed | cancelled)
            echo "job $1 $status: $(api "$URL/v1/jobs/$1" | jq -c .error)" >&2
            exit 1
            ;;
        esac
        sleep 0.5
    done
}

echo "uploading Fashion-MNIST to $URL ..."
train=$(api -F "images=@$FASHION_DIR/train-images-idx3-ubyte.gz" -F "labels=@$FASHION_DIR/train-labels-idx1-ubyte.gz" \
    "$URL/v1/datasets?name=fashion-mnist-train" | jq -r .id)
test=$(api -F "images=@$FASHION_DIR/t10k-images-idx3-ubyte.gz" -F "labels=@$FASHION_DIR/t10k-labels-idx1-ubyte.gz" \
    "$URL/v1/datasets?name=fashion-mnist-test" | jq -r .id)

sgd='{"type": "sgd", "lr": 0.01, "momentum": 0.9}'
cnn() { # the base CNN with $1 outputs, on one line
    jq -c . <<JSON
{"input": [1, 28, 28], "layers": [
  {"name": "conv1", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
  {"name": "pool1", "type": "maxpool2d", "size": 2},
  {"name": "conv2", "type": "conv2d", "filters": 32, "kernel": 3, "padding": 1, "activation": "relu"},
  {"name": "pool2", "type": "maxpool2d", "size": 2},
  {"name": "flatten", "type": "flatten"},
  {"name": "hidden", "type": "dense", "units": 128, "activation": "relu"},
  {"name": "output", "type": "dense", "units": $1, "activation": "softmax"}]}
JSON
}

per_class=""
if [ -n "$PRETRAIN_PER_CLASS" ]; then
    per_class=", \"per_class\": $PRETRAIN_PER_CLASS, \"seed\": 0"
fi
echo "pretraining the base on classes 0-4 ..."
base_job=$(submit "{\"name\": \"base (classes 0-4)\",
  \"dataset\": {\"id\": \"$train\", \"classes\": [0, 1, 2, 3, 4]$per_class},
  \"test\": {\"id\": \"$test\", \"classes\": [0, 1, 2, 3, 4]},
  \"architecture\": $(cnn 5), \"init\": \"torch_default\", \"optimizer\": $sgd, \"batch_size\": 64,
  \"epochs\": 3, \"seed\": 42}")
wait_job "$base_job"
base=$(api "$URL/v1/jobs/$base_job" | jq -r .result_model)
api "$URL/v1/jobs/$base_job" | jq -r '"base: source test accuracy \(.test_metrics.accuracy), \(.train_seconds | . * 10 | round / 10) s"'
api "$URL/v1/jobs/$base_job/metrics.png" -o "$OUT/base.png"

target="{\"id\": \"$train\", \"classes\": [5, 6, 7, 8, 9], \"per_class\": 100, \"seed\": 0}"
target_test="{\"id\": \"$test\", \"classes\": [5, 6, 7, 8, 9]}"
common="\"dataset\": $target, \"test\": $target_test, \"optimizer\": $sgd, \"batch_size\": 64, \"epochs\": 30, \"seed\": 42"
variants=(
    "from scratch on the 500 images|scratch|{$common, \"architecture\": $(cnn 5), \"init\": \"torch_default\"}"
    "drop 1 (output), frozen base, he|drop1-he|{$common, \"base_model\": \"$base\", \"drop_layers\": 1, \"freeze\": \"base\", \"init\": \"he_normal\"}"
    "drop 1, frozen, zeros|drop1-zeros|{$common, \"base_model\": \"$base\", \"drop_layers\": 1, \"freeze\": \"base\", \"init\": \"zeros\"}"
    "drop 2 (output + last hidden), frozen, he|drop2-he|{$common, \"base_model\": \"$base\", \"drop_layers\": 2, \"freeze\": \"base\", \"head\": {\"hidden\": [128]}, \"init\": \"he_normal\"}"
    "drop 2, frozen, xavier|drop2-xavier|{$common, \"base_model\": \"$base\", \"drop_layers\": 2, \"freeze\": \"base\", \"head\": {\"hidden\": [128]}, \"init\": \"xavier_uniform\"}"
    "drop 2, frozen, zeros|drop2-zeros|{$common, \"base_model\": \"$base\", \"drop_layers\": 2, \"freeze\": \"base\", \"head\": {\"hidden\": [128]}, \"init\": \"zeros\"}"
    "drop 2, full fine-tune, he|drop2-full-he|{$common, \"base_model\": \"$base\", \"drop_layers\": 2, \"freeze\": \"none\", \"head\": {\"hidden\": [128]}, \"init\": \"he_normal\"}"
    "drop 2, two phases: frozen, then conv2 up|drop2-phases|$(jq -c 'del(.epochs) + {phases: [{freeze: "base", epochs: 20}, {freeze: {trainable_from: "conv2"}, epochs: 10, optimizer: {type: "sgd", lr: 0.0001, momentum: 0.9}}]}' <<<"{$common, \"base_model\": \"$base\", \"drop_layers\": 2, \"head\": {\"hidden\": [128]}, \"init\": \"he_normal\"}")"
)

echo "fine-tuning ${#variants[@]} variants on 500 images of classes 5-9 ..."
jobs=()
for v in "${variants[@]}"; do
    IFS='|' read -r label key spec <<<"$v"
    spec=$(jq -c --arg name "$label" '. + {name: $name}' <<<"$spec")
    jobs+=("$(submit "$spec")")
done

printf '\n%-44s %14s %18s\n' "variant" "test accuracy" "fine-tune seconds"
results="[]"
for i in "${!variants[@]}"; do
    IFS='|' read -r label key _ <<<"${variants[$i]}"
    wait_job "${jobs[$i]}"
    job=$(api "$URL/v1/jobs/${jobs[$i]}")
    acc=$(jq -r .test_metrics.accuracy <<<"$job")
    secs=$(jq -r .train_seconds <<<"$job")
    printf '%-44s %14.3f %18.2f\n' "$label" "$acc" "$secs"
    api "$URL/v1/jobs/${jobs[$i]}/metrics.png" -o "$OUT/$key.png"
    results=$(jq -c --arg v "$label" --arg k "$key" --arg j "${jobs[$i]}" --argjson a "$acc" --argjson s "$secs" \
        --argjson w "$(jq -c .warnings <<<"$job")" '. + [{variant: $v, key: $k, job: $j, accuracy: $a, seconds: $s, warnings: $w}]' <<<"$results")
done
jq . <<<"$results" >"$OUT/results.json"
echo
echo "charts and results.json are in $OUT/"
