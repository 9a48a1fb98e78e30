#!/usr/bin/env bash
# Service benchmark (issue 4 targets on this 2-core machine: >= 10k req/s
# idle, p99 < 50 ms while a job trains, >= 500 job submits/s):
#   1. wrk against GET /v1/jobs/{id} with the service idle,
#   2. the same while a CNN trains on Fashion-MNIST,
#   3. 1,000 job submissions from 8 keep-alive clients.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FT_BUILD:-build}/finetuned
DURATION=${DURATION:-10}
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
TMP=$(mktemp -d)
"$BIN" serve --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$TMP/data" --http-threads 4 \
    --max-connections-per-ip 256 2>"$TMP/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$TMP/port")

ds=$(curl -sf -F "images=@$F/train-images-idx3-ubyte.gz" -F "labels=@$F/train-labels-idx1-ubyte.gz" "$URL/v1/datasets" | jq -r .id)
cnn='{"input": [1, 28, 28], "layers": [
  {"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"}, {"type": "maxpool2d", "size": 2},
  {"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1, "activation": "relu"}, {"type": "maxpool2d", "size": 2},
  {"type": "flatten"}, {"type": "dense", "units": 128, "activation": "relu"},
  {"type": "dense", "units": 10, "activation": "softmax"}]}'
small=$(jq -nc --arg ds "$ds" '{dataset: {id: $ds, classes: [0, 1], per_class: 20}, epochs: 1,
  architecture: {input: [1, 28, 28], layers: [{type: "flatten"}, {type: "dense", units: 2, activation: "softmax"}]}}')
job=$(curl -sf -H 'Content-Type: application/json' -d "$small" "$URL/v1/jobs" | jq -r .id)

report() { # wrk output -> "req/s p99"
    awk '/Requests\/sec/ {rps = $2} /^ +99%/ {p99 = $2} END {printf "%10.0f req/s   p99 %s\n", rps, p99}'
}
printf '%-40s ' "GET /v1/jobs/{id}, idle"
wrk -t2 -c32 -d"${DURATION}s" --latency "$URL/v1/jobs/$job" | report

train=$(jq -nc --arg ds "$ds" --argjson a "$cnn" '{dataset: $ds, architecture: $a, epochs: 50}')
long=$(curl -sf -H 'Content-Type: application/json' -d "$train" "$URL/v1/jobs" | jq -r .id)
until [ "$(curl -sf "$URL/v1/jobs/$long" | jq -r .status)" = running ]; do sleep 0.2; done
printf '%-40s ' "GET /v1/jobs/{id}, while a CNN trains"
wrk -t2 -c32 -d"${DURATION}s" --latency "$URL/v1/jobs/$job" | report
curl -sf -X POST "$URL/v1/jobs/$long/cancel" >/dev/null

printf '%-40s ' "POST /v1/jobs x 1000 (8 clients)"
/usr/bin/python3 bench/submit_load.py "$(cat "$TMP/port")" "$small" 1000 8 |
    jq -r '"\(.jobs_per_second | floor) jobs/s   (\(.failures) failures, \(.seconds * 100 | floor / 100) s)"'
