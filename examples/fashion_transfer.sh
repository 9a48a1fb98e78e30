#!/usr/bin/env bash
# The transfer-learning experiment of docs/design.md, end to end, with curl + jq
# against a running `finetuned serve`:
#   1. upload Fashion-MNIST (train and test IDX pairs),
#   2. pretrain the CNN base on classes 0-4,
#   3. one sweep: fine-tune 12 variants (drop 1 or 2 layers x he_normal or
#      zeros init x frozen base, full fine-tune or two phases) on 100 images
#      per class of classes 5-9, each over 3 seeds (36 jobs; drop 2 gets a new
#      128-unit hidden layer in place of the dropped one),
#   4. print the leaderboard (variant, test accuracy mean +- sample std and
#      min..max over the seeds, fine-tune seconds) and save the sweep's chart,
#      its results.csv and results.json into $OUT.
#
# Usage: examples/fashion_transfer.sh [BASE_URL]      (default http://127.0.0.1:8080)
# Environment:
#   FT_API_KEY          bearer token, if the service requires one
#   OUT                 output directory (default ./fashion-transfer)
#   PRETRAIN_PER_CLASS  pretraining images per class (default: all 6000)
#   SEEDS               the sweep's seeds, comma-separated (default 0,1,2)
#   FASHION_DIR         IDX files (default /usr/share/datasets/fashion-mnist)
set -euo pipefail

URL=${1:-http://127.0.0.1:8080}
OUT=${OUT:-fashion-transfer}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
PRETRAIN_PER_CLASS=${PRETRAIN_PER_CLASS:-}
SEEDS=${SEEDS:-0,1,2}
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
# Dropping 2 layers replaces the last hidden layer with a new one: the two
# fields vary together (one grid key, comma-separated). So do freeze and
# epochs against phases (Keras's recipe: 20 epochs on the frozen base, then
# 10 with conv2 up at a learning rate 100 times smaller); null leaves a
# field out.
two_phases='[{"freeze": "base", "epochs": 20},
  {"freeze": {"trainable_from": "conv2"}, "epochs": 10, "optimizer": {"type": "sgd", "lr": 0.0001, "momentum": 0.9}}]'
sweep_body="{\"name\": \"fashion transfer\", \"metric\": \"test.accuracy\", \"seeds\": [$SEEDS],
  \"spec\": {\"dataset\": $target, \"test\": $target_test, \"base_model\": \"$base\", \"optimizer\": $sgd,
           \"batch_size\": 64},
  \"grid\": {\"drop_layers,head.hidden\": [[1, []], [2, [128]]], \"init\": [\"he_normal\", \"zeros\"],
           \"freeze,epochs,phases\": [[\"base\", 30, null], [\"none\", 30, null], [null, null, $two_phases]]}}"

sweep=$(api -X POST -H 'Content-Type: application/json' -d "$sweep_body" "$URL/v1/sweeps")
id=$(jq -r .id <<<"$sweep")
echo "fine-tuning $(jq '.variants | length' <<<"$sweep") variants x $(jq '.seeds | length' <<<"$sweep") seeds on 500 images of classes 5-9 (sweep $id) ..."
while :; do
    sweep=$(api "$URL/v1/sweeps/$id")
    case $(jq -r .status <<<"$sweep") in
    completed) break ;;
    cancelled)
        echo "sweep $id was cancelled" >&2
        exit 1
        ;;
    esac
    sleep 1
done

printf '\n%-36s %26s %14s %9s\n' "variant (best first)" "test accuracy, mean +- std" "min..max" "seconds"
jq -r '.leaderboard[] | [(.values | "drop \(.drop_layers), \(.init), \({"base": "frozen base", "none": "full fine-tune", "phases": "two phases"}[.freeze // "phases"])"),
       .mean, .std, .min, .max, .seconds_mean] | map(. // -1) | @tsv' <<<"$sweep" |
    while IFS=$'\t' read -r label mean std lo hi secs; do
        # -1: no value (every job of the variant failed or was cancelled)
        printf '%-36s %13.3f +- %-9.3f %6.3f..%.3f %9.2f\n' "$label" "$mean" "$std" "$lo" "$hi" "$secs"
    done

api "$URL/v1/sweeps/$id/chart.png" -o "$OUT/sweep.png"
api "$URL/v1/sweeps/$id/results.csv" >"$OUT/results.csv"
# results.json: the leaderboard's rows with a short key and the warnings of
# each variant's first job (the same for all its seeds).
results="[]"
while read -r row; do
    warnings=$(api "$URL/v1/jobs/$(jq -r '.jobs[0].id' <<<"$row")" | jq -c .warnings)
    results=$(jq -c --argjson r "$row" --argjson w "$warnings" '. + [$r + {
        key: "drop\($r.values.drop_layers)-\($r.values.init)-\($r.values.freeze // "phases")", warnings: $w}]' <<<"$results")
done < <(jq -c '.leaderboard[]' <<<"$sweep")
jq . <<<"$results" >"$OUT/results.json"
echo
echo "the chart (sweep.png), results.csv and results.json are in $OUT/"
