#!/usr/bin/env bash
# tests/repeat.sh N [MAKE_TARGET]: clone this repository's HEAD into a temp
# dir (a clean clone, as CI uses) and run `make test` (or MAKE_TARGET) in it
# N times in a row, to catch order- and timing-dependent tests. Each run's
# output is kept in the clone's repeat-logs/; the last line is "R passed,
# R failed" counted in runs, and the exit status is non-zero if any failed.
set -u
runs=${1:?usage: tests/repeat.sh N [make-target]}
target=${2:-test}
top=$(cd "$(dirname "$0")/.." && pwd)
clone=$(mktemp -d /tmp/ft-repeat.XXXXXX)
git clone -q "$top" "$clone" || exit 2
# The npm tools of tools/ci (install-deps.sh --test installs them) are not
# in git; reuse the checkout's rather than fetching them again.
if [ -d "$top/tools/ci/node_modules" ]; then
    ln -s "$top/tools/ci/node_modules" "$clone/tools/ci/node_modules"
fi
cd "$clone" || exit 2
make -j2 all >/dev/null || { echo "build failed in $clone"; exit 2; }
mkdir -p repeat-logs
passed=0 failed=0
for i in $(seq "$runs"); do
    log=repeat-logs/run-$i.log
    if make "$target" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "run $i: $(tail -n 1 "$log")"
    else
        failed=$((failed + 1))
        echo "run $i FAILED: $(grep -E '^(FAIL|[0-9]+ passed)' "$log" | tr '\n' ' ')"
    fi
done
echo "logs: $clone/repeat-logs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
