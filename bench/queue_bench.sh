#!/usr/bin/env bash
# The queue's throughput: empty jobs claimed and completed per second by 1,
# 4 and 16 workers, on SQLite and on PostgreSQL, in one run (build/queue_bench,
# store-level: the claim and the fenced success a worker makes per job).
# PostgreSQL runs durable (fsync on, a throwaway cluster on a Unix socket,
# tests/pg_cluster.sh). Floor: PostgreSQL with 16 workers at least 5x its
# own single-worker rate, and no job claimed twice (queue_bench exits
# non-zero if one was).
#   bench/queue_bench.sh [JOBS]    (default 2000 per run)
# CPUS=LIST (a taskset CPU list, e.g. CPUS=0) pins the cluster and the
# bench to those CPUs: the same run on fewer cores shows how much of the
# 16-worker figure is bound by the cores rather than by waiting.
set -eu
cd "$(dirname "$0")/.."
BUILD=${FT_BUILD:-build}
JOBS=${1:-2000}
make -s -j2 "$BUILD/queue_bench"
pin=${CPUS:+taskset -c $CPUS}
if [ -n "$pin" ]; then echo "pinned to CPUs $CPUS"; fi
tmp=$(mktemp -d /tmp/ft-qbench-XXXXXX)
pg=$(mktemp -d /tmp/ft-pg-XXXXXX)
trap 'tests/pg_cluster.sh stop "$pg"; rm -rf "$tmp"' EXIT
conninfo=$(FT_PG_DURABLE=1 $pin tests/pg_cluster.sh start "$pg")
declare -A rate
for store in sqlite postgres; do
    for workers in 1 4 16; do
        if [ $store = sqlite ]; then
            target="$tmp/queue-$workers.db"
        else
            db="bench_$workers"
            psql "$conninfo dbname=postgres" -qAt -c "CREATE DATABASE $db" >/dev/null
            target="$conninfo dbname=$db"
        fi
        line=$($pin "$BUILD/queue_bench" "$target" migrations "$workers" "$JOBS")
        echo "$line"
        rate[$store$workers]=$(echo "$line" | sed 's/.*"per_second": \([0-9.]*\).*/\1/')
    done
done
ratio=$(awk -v a="${rate[postgres16]}" -v b="${rate[postgres1]}" 'BEGIN { printf "%.1f", a / b }')
echo "postgres: 16 workers / 1 worker = ${ratio}x (floor 5x)"
awk -v r="$ratio" 'BEGIN { exit !(r >= 5) }' || { echo "FAIL: below the 5x floor"; exit 1; }
