#!/usr/bin/env bash
# Runs every test suite and prints one closing "N passed, N failed" line.
# Each suite prints "PASS name" / "FAIL name" lines; this script counts them.
# FT_BUILD selects the build directory (build or build-san).
# The store's unit tests and every API module that starts a server run
# twice, once per store (FT_TEST_STORE=sqlite, then postgres, on one
# PostgreSQL cluster started here for the whole run and stopped at the
# end); the closing line counts both runs.
set -u
cd "$(dirname "$0")/.."
BUILD=${FT_BUILD:-build}
export FT_BUILD=$BUILD
log=$(mktemp)
pgdir=$(mktemp -d /tmp/ft-pg-XXXXXX)
trap 'rm -f "$log"; tests/pg_cluster.sh stop "$pgdir"' EXIT
if ! FT_TEST_PG=$(tests/pg_cluster.sh start "$pgdir"); then
    echo "FAIL cannot start PostgreSQL for the tests" | tee -a "$log"
    exit 1
fi
export FT_TEST_PG
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
    [ -x "$t" ] || continue
    run_suite "$(basename "$t")" env FT_TEST_STORE=sqlite "$t"
    case $t in
    */test_store_*) run_suite "$(basename "$t") (postgres)" env FT_TEST_STORE=postgres "$t" ;;
    esac
done
for t in tests/api/test_*.py; do
    [ -e "$t" ] || continue
    run_suite "$(basename "$t")" env FT_TEST_STORE=sqlite /usr/bin/python3 "$t"
    # Modules that start no server do not depend on the store.
    if grep -q "Server(" "$t"; then
        run_suite "$(basename "$t") (postgres)" env FT_TEST_STORE=postgres /usr/bin/python3 "$t"
    fi
done

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
