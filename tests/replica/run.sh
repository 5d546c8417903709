#!/usr/bin/env bash
# tests/replica/run.sh — read scaling against a real primary + hot standby pair on loopback.
#
#   CRM_BIN=build/test/crm-service tests/replica/run.sh [pytest args…]
#
# Starts a throwaway PostgreSQL 15 primary, clones it with `pg_basebackup -R` into a streaming hot
# standby (asynchronous), waits until it streams, then runs tests/replica/test_read_replica.py:
# lists and reports come from the standby (CRM_DATABASE_READ_URL), single-record reads and every
# write from the primary (read-your-writes while standby replay is paused), reads are audited on
# the primary, and lists fall back to the primary when the standby stops. Both clusters live in a
# temp dir on free loopback ports and are stopped and removed whatever happens. ctest runs this as
# "replica" in the non-sanitizer pass of tests/run.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../../deploy/pg-cluster.sh
source deploy/pg-cluster.sh
# shellcheck source=../ops-lib.sh
source tests/ops-lib.sh

say() { printf 'replica-test: %s\n' "$*"; }

bin=$(ops_find_bin replica-test)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

work=$(mktemp -d "${TMPDIR:-/tmp}/crm-replica.XXXXXX")
chmod 755 "$work"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    pg_cluster_stop "$work/standby" || true
    pg_cluster_stop "$work/primary" || true
    if [ "$rc" -ne 0 ]; then
        for f in "$work"/primary/postgresql.log "$work"/standby/postgresql.log; do
            [ -f "$f" ] && { say "end of $f:" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

primary_port=$(pg_free_port)
PG_CLUSTER_FAST=1 pg_cluster_start "$work/primary" "$primary_port"
pg_cluster_ensure_db "$work/primary" "$primary_port" crm_test

# The standby: a base backup of the primary with standby.signal and primary_conninfo (-R).
# pg-cluster.sh allows replication connections from 127.0.0.1; wal_level=replica is the default.
mkdir -p "$work/standby"
runas=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$work/standby"
    runas=(runuser -u postgres --)
fi
(cd "$work" && "${runas[@]}" "$pg_bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
    -D "$work/standby/data" -R -X stream -c fast) >"$work/basebackup.log" 2>&1 || {
    say "pg_basebackup failed:" >&2
    cat "$work/basebackup.log" >&2
    exit 1
}
standby_port=$(pg_free_port)
pg_cluster_start "$work/standby" "$standby_port"

for _ in $(seq 1 300); do
    n=$(pg_cluster_psql "$work/primary" "$primary_port" postgres -At \
        -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
    [ "$n" = 1 ] && break
    sleep 0.1
done
if [ "$n" != 1 ]; then
    say "the standby does not stream" >&2
    exit 1
fi
say "primary on 127.0.0.1:$primary_port, hot standby (pg_basebackup -R) on 127.0.0.1:$standby_port, streaming"

py=$(ops_python)
CRM_BIN=$bin \
    CRM_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$primary_port/crm_test" \
    CRM_TEST_READ_URL="postgresql://postgres@127.0.0.1:$standby_port/crm_test" \
    CRM_TEST_STANDBY_DIR="$work/standby" \
    "$py" -m pytest -q -p no:cacheprovider tests/replica "$@"
