#!/usr/bin/env bash
# tests/pgbouncer/run.sh — the whole API suite (tests/api) once through PgBouncer in transaction
# pooling mode, with the service in CRM_DB_PREPARE=off.
#
#   CRM_BIN=build/test/crm-service tests/pgbouncer/run.sh [pytest args…]
#
# Installs Debian's pgbouncer if missing, starts a throwaway PostgreSQL 15 cluster and a private
# pgbouncer (both on free loopback ports, in a temp dir), runs pytest with CRM_TEST_DATABASE_URL
# pointing at pgbouncer, checks from pgbouncer's own statistics that the traffic went through it
# and that nothing was refused, and stops both by pid whatever happens. ctest runs it as
# "api_pgbouncer" in the non-sanitizer pass of tests/run.sh.
#
# The pgbouncer configuration is deliberately plain: pool_mode = transaction, no
# ignore_startup_parameters, server_reset_query unused (transaction mode), so the service must
# carry no session state at all (see README "Operations: PgBouncer").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../../deploy/pg-cluster.sh
source deploy/pg-cluster.sh
# shellcheck source=../ops-lib.sh
source tests/ops-lib.sh

say() { printf 'pgbouncer-test: %s\n' "$*"; }

bin=$(ops_find_bin pgbouncer-test)

if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
    say "installing Debian's pgbouncer"
    if [ "$(id -u)" -ne 0 ]; then
        say "pgbouncer is missing and this is not root: apt-get install pgbouncer" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
    }
fi
pgbouncer_bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
# Debian enables a system pgbouncer service on install; ours is separate (own port, pidfile).

work=$(mktemp -d "${TMPDIR:-/tmp}/crm-pgbouncer.XXXXXX")
chmod 755 "$work"
bouncer_pid=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$bouncer_pid" ]; then
        stop_process "$bouncer_pid" pgbouncer
    fi
    pg_cluster_stop "$work/pg" || true
    if [ "$rc" -ne 0 ] && [ -f "$work/pgbouncer.log" ]; then
        say "end of the pgbouncer log:" >&2
        tail -n 20 "$work/pgbouncer.log" >&2 || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_port=$(pg_free_port)
PG_CLUSTER_FAST=1 pg_cluster_start "$work/pg" "$pg_port"
pg_cluster_ensure_db "$work/pg" "$pg_port" crm_test

bouncer_port=$(pg_free_port)
mkdir -p "$work/bouncer"
printf '"postgres" ""\n' >"$work/bouncer/userlist.txt"
cat >"$work/bouncer/pgbouncer.ini" <<EOF
[databases]
crm_test = host=127.0.0.1 port=$pg_port dbname=crm_test

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $work/bouncer/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 500
default_pool_size = 10
reserve_pool_size = 0
server_lifetime = 3600
logfile = $work/pgbouncer.log
pidfile = $work/bouncer/pgbouncer.pid
EOF
# PgBouncer refuses to run as root.
runas=()
if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$work/bouncer"
    touch "$work/pgbouncer.log"
    chown postgres:postgres "$work/pgbouncer.log"
    runas=(runuser -u postgres --)
fi
"${runas[@]}" "$pgbouncer_bin" "$work/bouncer/pgbouncer.ini" >"$work/pgbouncer.out" 2>&1 &
bouncer_pid=$!
for _ in $(seq 1 100); do
    if psql -X -qAt "postgresql://postgres@127.0.0.1:$bouncer_port/crm_test" -c 'SELECT 1' >/dev/null 2>&1; then
        break
    fi
    kill -0 "$bouncer_pid" 2>/dev/null || { say "pgbouncer exited at start-up" >&2; exit 1; }
    sleep 0.1
done
admin_url="postgresql://postgres@127.0.0.1:$bouncer_port/pgbouncer"
say "$("$pgbouncer_bin" --version | head -n 1) on 127.0.0.1:$bouncer_port (pool_mode=transaction) in front of PostgreSQL on $pg_port"

# Why CRM_DB_PREPARE=off also drops the startup options: this PgBouncer refuses them.
if PGOPTIONS='-c statement_timeout=5000' psql -X -qAt "postgresql://postgres@127.0.0.1:$bouncer_port/crm_test" \
    -c 'SELECT 1' >/dev/null 2>&1; then
    say "note: this pgbouncer accepts startup options (newer than 1.18?)"
else
    say "as expected, pgbouncer refuses a client that sends startup options"
fi
probe_lines=$(wc -l <"$work/pgbouncer.log")

py=$(ops_python)
rc=0
CRM_BIN=$bin CRM_DB_PREPARE=off \
    CRM_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$bouncer_port/crm_test" \
    "$py" -m pytest -q -p no:cacheprovider tests/api "$@" || rc=$?

# The traffic really went through pgbouncer, in many transactions over few server connections.
stats=$(psql -X -qAt -F ' ' "$admin_url" -c 'SHOW STATS' | awk '$1 == "crm_test" {print $2, $3}')
read -r xacts queries <<<"${stats:-0 0}"
say "pgbouncer carried $xacts transactions and $queries queries for crm_test"
if [ "${xacts:-0}" -lt 1000 ]; then
    say "FAIL: expected the suite's traffic (thousands of transactions) to pass through pgbouncer" >&2
    rc=1
fi
refused=$(tail -n +"$((probe_lines + 1))" "$work/pgbouncer.log" |
    grep -E 'unsupported startup parameter|prepared statement "[^"]*" (does not|already) exist' || true)
if [ -n "$refused" ]; then
    say "FAIL: pgbouncer logged refused clients or prepared-statement errors:" >&2
    printf '%s\n' "$refused" | tail -n 5 >&2
    rc=1
fi
exit "$rc"
