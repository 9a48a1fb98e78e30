#!/usr/bin/env bash
# Runs every test suite and prints one closing "N passed, N failed" line.
# Each suite prints "PASS name" / "FAIL name" lines; this script counts them.
# FT_BUILD selects the build directory (build or build-san).
set -u
cd "$(dirname "$0")/.."
BUILD=${FT_BUILD:-build}
export FT_BUILD=$BUILD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

run_suite() {
    local name=$1
    shift
    echo "== $name"
    "$@" 2>&1 | tee -a "$log" | grep -v '^[0-9]* passed, [0-9]* failed$'
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        # A crash that printed no FAIL line must still count as a failure.
        if ! grep -q "^FAIL " <(tail -n 200 "$log"); then
            echo "FAIL $name (exit $rc)" | tee -a "$log"
        fi
        status=1
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && run_suite "$(basename "$t")" "$t"
done
for t in tests/api/test_*.py; do
    [ -e "$t" ] && run_suite "$(basename "$t")" /usr/bin/python3 "$t"
done

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
