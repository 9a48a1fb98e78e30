#!/bin/sh
# A throwaway PostgreSQL 15 cluster for the tests and benchmarks, on a Unix
# socket in a directory of its own (no TCP port, so runs never collide).
#   tests/pg_cluster.sh start DIR   initdb + pg_ctl start as the postgres
#                                   user; prints the libpq keyword string
#   tests/pg_cluster.sh stop DIR    stop it and remove DIR
# FT_PG_DURABLE=1 keeps fsync on (benchmarks); tests run with fsync off,
# which changes nothing they check and makes each commit cheap.
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=$1
dir=$2
case $cmd in
start)
    mkdir -p "$dir"
    chown postgres "$dir"
    chmod 700 "$dir"
    runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    durable="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${FT_PG_DURABLE:-0}" = 1 ] && durable=""
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -c listen_addresses= -c max_connections=400 $durable" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "host=$dir port=5432 user=postgres"
    ;;
stop)
    if [ -d "$dir/data" ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
