#!/usr/bin/env bash
# tests/bench/run.sh — load benchmark of crm-service against its own database ceiling.
#
#   tests/bench/run.sh
#
# Builds a Release binary (build/bench), starts a throwaway PostgreSQL 15 cluster (temp dir, free
# port, fsync off), starts crm-service on it, seeds 100,000 customers, then for each scenario
#   get   GET /v1/customers/{id}      random seeded ids, as a sales_manager (reads are audited)
#   list  GET /v1/customers?limit=50  first page, newest first
#   post  POST /v1/customers          a unique name per request
# runs wrk (2 threads, 32 connections, 3 s warm-up, 10 s measured) against the service, then
# pgbench (-M prepared -c 32 -j 2, same warm-up and duration, TCP 127.0.0.1) running the bare SQL
# (tests/bench/pg_*.sql) on the same database: the ceiling. Then it seeds 1,000,000 interactions,
# 100,000 visits, 80,000 visit plans and 50,000 follow-ups (seed_reports.sql) and measures the
# reports the same way:
#   overdue        GET /v1/reports/overdue?kind=contact&limit=50  as the sales_manager (all owners)
#   overdue_sales  the same as a sales rep owning ~2,000 customers
#   completion     GET /v1/reports/visit-completion?period=2026   as the sales_manager; 4 connections
#                  (and pgbench clients): a year of ~40,000 plans takes ~0.1 s of database time, and
#                  32 in flight would queue past the service's 2 s wait for a pool connection.
# Then it seeds 1,000,000 ERP transactions over two years, 60,000 survey responses, 20,000 complaints,
# budgets and 50,000 expenses (seed_kpis.sql) and measures, each with 4 connections (8 for the rep):
#   kpis           GET /v1/reports/kpis (the current quarter and the one before) as the sales_manager
#   kpis_sales     the same as the sales rep owning ~2,000 customers
#   cost_benefit   GET /v1/reports/cost-benefit?year=<this year>&group_by=tier as the sales_manager
#   complaints     GET /v1/reports/complaints?from=<Jan 1>&to=<Dec 31> as the sales_manager
# It prints req/s, p50/p99, each ratio
# to its ceiling, the service's peak RSS, and where the CPU went; the results go to
# build/bench/results.json, raw outputs to build/bench/raw/, the service and PostgreSQL logs to
# build/bench/.
#
# Diagnostics (not targets): in-service latency from the access log, pool gauges from /metrics,
# and CPU split between crm-service, postgres, the load generator and everything else on the
# machine, also per request.
#
# Only ratios within one run mean anything. Missing a target does not fail the script (it is a
# report); errors (non-2xx answers, socket errors, failed pgbench transactions) do: exit 1.
# Environment: CRM_BENCH_DURATION_S (10), CRM_BENCH_WARMUP_S (3) — for quick smoke runs only;
# CRM_BENCH_THREADS (64) and CRM_BENCH_POOL_SIZE (the service default), the service's
# CRM_THREADS and CRM_DB_POOL_SIZE, for experiments (the targets assume the defaults);
# CRM_BENCH_ONLY=core runs only get, list and post (no report seeding), for quick iterations.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
bench=$repo/tests/bench
# shellcheck source=../../deploy/pg-cluster.sh
source deploy/pg-cluster.sh

DURATION_S=${CRM_BENCH_DURATION_S:-10}
WARMUP_S=${CRM_BENCH_WARMUP_S:-3}
THREADS=2
CONNECTIONS=32
SEED_N=100000 # pg_get.sql draws from 1..100000
SAMPLE_IDS=10000
DB=crm_bench
SVC_THREADS=${CRM_BENCH_THREADS:-64}
SVC_POOL=${CRM_BENCH_POOL_SIZE:-}
ONLY=${CRM_BENCH_ONLY:-}
case $ONLY in '' | core) ;; *) printf 'CRM_BENCH_ONLY must be empty or core\n' >&2; exit 2 ;; esac
PG_BIN_DIR=${PG_BIN:-/usr/lib/postgresql/15/bin}

out=$repo/build/bench
raw=$out/raw

pg_dir=""
svc_pid=""
sampler_pid=""
stage="start-up"

if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi

die() {
    printf '\ntests/bench/run.sh: ERROR: %s\n' "$*" >&2
    exit 1
}

section() {
    printf '\n==> %s\n' "$*"
}

stop_sampler() {
    if [ -n "$sampler_pid" ]; then
        kill "$sampler_pid" 2>/dev/null || true
        wait "$sampler_pid" 2>/dev/null || true
        sampler_pid=""
    fi
}

stop_service() {
    stop_process "$svc_pid" crm-service
    svc_pid=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_sampler
    stop_service
    if [ -n "$pg_dir" ]; then
        pg_cluster_stop "$pg_dir" || true
        cp "$pg_dir/postgresql.log" "$out/postgresql.log" 2>/dev/null || true
        rm -rf "$pg_dir"
    fi
    if [ "$rc" -ne 0 ] && [ "$stage" != "done" ]; then
        printf 'tests/bench/run.sh: FAILED during %s (exit %d)\n' "$stage" "$rc" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build ----

stage="dependency check"
crm_install_deps
for tool in wrk curl; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -x "$PG_BIN_DIR/pgbench" ] || die "$PG_BIN_DIR/pgbench not found"

stage="Release build (build/bench)"
section "$stage"
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DCRM_TESTS=OFF >/dev/null
cmake --build build/bench -j2
bin=$out/crm-service
[ -x "$bin" ] || die "no binary at $bin"
rm -rf "$raw"
mkdir -p "$raw"

# ---- database and service ----

stage="PostgreSQL start"
section "$stage"
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/crm-bench-pg.XXXXXX")
pg_port=$(pg_free_port)
PG_CLUSTER_FAST=1 pg_cluster_start "$pg_dir" "$pg_port"
pg_cluster_ensure_db "$pg_dir" "$pg_port" "$DB"
psql_db() {
    pg_cluster_psql "$pg_dir" "$pg_port" "$DB" "$@"
}
# Diagnostics only (cost nothing unless something is slow): statements over 1 s, lock waits and
# autovacuum runs go to the server log, copied to build/bench/postgresql.log at the end.
psql_db -q -c "ALTER SYSTEM SET log_min_duration_statement = 1000" -c "ALTER SYSTEM SET log_lock_waits = on" \
    -c "ALTER SYSTEM SET log_autovacuum_min_duration = 0" -c "SELECT pg_reload_conf()" >/dev/null
pg_version=$(psql_db -At -c 'SHOW server_version')
pm_pid=$(head -n 1 "$pg_dir/data/postmaster.pid")
printf 'PostgreSQL %s in %s on 127.0.0.1:%s (fsync off)\n' "$pg_version" "$pg_dir" "$pg_port"
db_url="postgresql://postgres@127.0.0.1:$pg_port/$DB"

stage="service start"
section "$stage"
svc_port=$(pg_free_port)
svc_url="http://127.0.0.1:$svc_port"
admin_password="bench-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
user_password="bench-user-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
svc_log=$out/service.log
# The service gets only the settings below: CRM_* variables of the caller are dropped.
unset_crm=()
while IFS= read -r var; do
    unset_crm+=(-u "$var")
done < <(compgen -e | grep '^CRM_' || true)
env "${unset_crm[@]}" \
    CRM_LISTEN="127.0.0.1:$svc_port" \
    CRM_DATABASE_URL="$db_url" \
    CRM_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    CRM_ADMIN_PASSWORD="$admin_password" \
    CRM_THREADS="$SVC_THREADS" \
    ${SVC_POOL:+CRM_DB_POOL_SIZE="$SVC_POOL"} \
    "$bin" >"$svc_log" 2>&1 &
svc_pid=$!
ready=0
for _ in $(seq 1 600); do
    kill -0 "$svc_pid" 2>/dev/null || die "crm-service exited during start-up; end of $svc_log: $(tail -n 20 "$svc_log")"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$svc_url/readyz" || true)" = 200 ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" = 1 ] || die "crm-service did not become ready in 60 s; end of $svc_log: $(tail -n 20 "$svc_log")"
start_rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$svc_pid/status")
printf 'crm-service (pid %s, CRM_THREADS=%s, CRM_DB_POOL_SIZE=%s) ready on %s, RSS %s kB; log: %s\n' \
    "$svc_pid" "$SVC_THREADS" "${SVC_POOL:-default}" "$svc_url" "$start_rss_kb" "$svc_log"

# api METHOD PATH TOKEN [JSON] — prints the response body; dies unless the status is 2xx.
api() {
    local method=$1 path=$2 token=$3 body=${4:-} code
    local args=(-sS -o "$raw/.body" -w '%{http_code}' -X "$method" "$svc_url$path")
    [ -z "$token" ] || args+=(-H "Authorization: Bearer $token")
    [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
    code=$(curl "${args[@]}") || die "curl $method $path failed"
    case $code in
        2??) cat "$raw/.body" ;;
        *) die "$method $path answered HTTP $code: $(cat "$raw/.body")" ;;
    esac
}
json_get() {
    "$py" "$bench/benchlib.py" json-get "$1"
}
login() {
    api POST /v1/auth/token "" "{\"username\":\"$1\",\"password\":\"$2\"}" | json_get access_token
}
create_user() { # USERNAME DISPLAY_NAME ROLE → id
    api POST /v1/users "$admin_token" \
        "{\"username\":\"$1\",\"display_name\":\"$2\",\"role\":\"$3\",\"password\":\"$user_password\"}" | json_get id
}

stage="users"
admin_token=$(login admin "$admin_password")
manager_id=$(create_user bench-manager "压测经理" sales_manager)
sales_ids=()
for i in 1 2 3; do
    sales_ids+=("$(create_user "bench-sales$i" "压测销售 $i" sales)")
done
manager_token=$(login bench-manager "$user_password")
printf 'users: sales_manager %s, sales %s\n' "$manager_id" "${sales_ids[*]}"

stage="seed"
section "seeding $SEED_N customers"
seed_start=$(date +%s%N)
psql_db -v s1="${sales_ids[0]}" -v s2="${sales_ids[1]}" -v s3="${sales_ids[2]}" -f "$bench/seed.sql"
psql_db -At -c "COPY (SELECT id FROM customers ORDER BY random() LIMIT $SAMPLE_IDS) TO STDOUT" >"$raw/ids.txt"
[ "$(wc -l <"$raw/ids.txt")" -eq "$SAMPLE_IDS" ] || die "could not export $SAMPLE_IDS ids"
seed_ms=$((($(date +%s%N) - seed_start) / 1000000))
printf 'seeded %s customers in %d ms (table with indexes: %s); %s sampled ids in %s\n' \
    "$(psql_db -At -c 'SELECT count(*) FROM customers')" "$seed_ms" \
    "$(psql_db -At -c "SELECT pg_size_pretty(pg_total_relation_size('customers'))")" \
    "$SAMPLE_IDS" "$raw/ids.txt"

# ---- measurements ----

cpu_snapshot() {
    "$py" "$bench/benchlib.py" cpu "$svc_pid" "$pm_pid" >"$1"
}

start_sampler() { # FILE — samples the pool gauges twice a second
    (
        while :; do
            curl -s "$svc_url/metrics" | grep '^crm_db_pool_' || true
            sleep 0.5
        done
    ) >"$1" 2>/dev/null &
    sampler_pid=$!
}

# check_wrk SCENARIO JSON — dies when wrk saw a non-2xx answer or a socket error.
check_wrk() {
    local scen=$1 json=$2 errors
    [ -s "$json" ] || die "$scen: wrk wrote no summary ($json)"
    errors=$("$py" -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"]; print(" ".join(f"{k}={v}" for k,v in e.items() if v))' "$json")
    if [ -n "$errors" ]; then
        printf '\n%s: wrk errors: %s (status = non-2xx/3xx answers). Non-2xx lines from the service log:\n' \
            "$scen" "$errors" >&2
        grep '"msg":"request"' "$svc_log" | grep -v '"status":"2' | tail -n 5 >&2 || true
        die "$scen: the service answered with errors; the benchmark is void"
    fi
}

# children_cpu FILE — CPU seconds (user + system) of this shell's waited-for children so far.
# `times` must run in this shell (not in $(…)), hence the file.
children_cpu() {
    times >"$1.times"
    awk 'NR == 2 {
        s = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
        printf "%.3f\n", s
    }' "$1.times" >"$1"
    rm -f "$1.times"
}

# client_cpu OUT BEFORE AFTER — the load generator's CPU seconds between the two marks, as JSON.
client_cpu() {
    awk -v a="$(cat "$2")" -v b="$(cat "$3")" 'BEGIN {printf "{\"client_cpu_s\": %.3f}\n", b - a}' >"$1"
    rm -f "$2" "$3"
}

# Per scenario: wrk script, bearer token, route (as the access log names it), concurrency (wrk
# connections and pgbench clients) and extra PostgreSQL options for the ceiling. The report
# scenarios' ceilings run with the service's own plan_cache_mode (force_generic_plan) and jit=off: their
# statements take parameters whose generic plans differ from pgbench's default custom ones.
declare -A scripts=([get]=get.lua [list]=list.lua [post]=post.lua
    [overdue]=overdue.lua [overdue_sales]=overdue.lua [completion]=completion.lua
    [kpis]=kpis.lua [kpis_sales]=kpis.lua [cost_benefit]=cost_benefit.lua [complaints]=complaints.lua)
declare -A routes=([get]='/v1/customers/{id}' [list]='/v1/customers' [post]='/v1/customers'
    [overdue]=/v1/reports/overdue [overdue_sales]=/v1/reports/overdue [completion]=/v1/reports/visit-completion
    [kpis]=/v1/reports/kpis [kpis_sales]=/v1/reports/kpis [cost_benefit]=/v1/reports/cost-benefit
    [complaints]=/v1/reports/complaints)
declare -A tokens=()
# The KPI board as a manager reads three quarters of 1,000,000 transactions and of the contact logs
# (a few hundred ms of database time): 4 in flight, like completion; a rep's board is far cheaper.
declare -A concurrency=([completion]=4 [kpis]=4 [kpis_sales]=8 [cost_benefit]=4 [complaints]=4)
# Report scenarios also measured with one connection (one request alone).
declare -A alone=([completion]=1 [kpis]=1 [kpis_sales]=1 [cost_benefit]=1 [complaints]=1)
generic='-c plan_cache_mode=force_generic_plan -c jit=off'
declare -A pg_options=([overdue]="$generic" [overdue_sales]="$generic" [completion]="$generic"
    [kpis]="$generic" [kpis_sales]="$generic" [cost_benefit]="$generic" [complaints]="$generic")
kpi_year=""

run_wrk() { # SCENARIO TAG DURATION_S [CONNECTIONS]
    local scen=$1 tag=$2 secs=$3 conns=${4:-${concurrency[$scen]:-$CONNECTIONS}}
    children_cpu "$raw/.cpu-before"
    CRM_BENCH_DIR="$bench" CRM_BENCH_TOKEN="${tokens[$scen]:-$manager_token}" CRM_BENCH_IDS="$raw/ids.txt" \
        CRM_BENCH_YEAR="$kpi_year" \
        CRM_BENCH_RUN="$tag" CRM_BENCH_OUT="$raw/$scen.$tag.json" \
        wrk -t"$((conns < THREADS ? conns : THREADS))" -c"$conns" -d"${secs}s" --latency --timeout 10s -s "$bench/${scripts[$scen]}" \
        "$svc_url" >"$raw/$scen.$tag.txt" 2>&1 || die "$scen: wrk failed: $(cat "$raw/$scen.$tag.txt")"
    children_cpu "$raw/.cpu-after"
    client_cpu "$raw/$scen.$tag.client.json" "$raw/.cpu-before" "$raw/.cpu-after"
    check_wrk "$scen" "$raw/$scen.$tag.json"
}

run_pgbench() { # SCENARIO OUTFILE DURATION_S
    local scen=$1 file=$2 secs=$3 vars=(-D owner="$manager_id" -D period_from=2026-01-01 -D period_to=2027-01-01)
    [ -z "$small_id" ] || vars+=(-D small="$small_id")
    [ -z "$kpi_year" ] || vars+=(-D year="$kpi_year" -D year_from="$kpi_year-01-01" -D year_to="$kpi_year-12-31")
    children_cpu "$raw/.cpu-before"
    PGOPTIONS="${pg_options[$scen]:-}" "$PG_BIN_DIR/pgbench" -n -M prepared -c "${concurrency[$scen]:-$CONNECTIONS}" \
        -j "$THREADS" -T "$secs" "${vars[@]}" -f "$bench/pg_$scen.sql" \
        -h 127.0.0.1 -p "$pg_port" -U postgres "$DB" >"$file" 2>&1 ||
        die "pg_$scen.sql: pgbench failed: $(tail -n 20 "$file")"
    children_cpu "$raw/.cpu-after"
    client_cpu "${file%.txt}.client.json" "$raw/.cpu-before" "$raw/.cpu-after"
}

measure() { # SCENARIO — wrk against the service, then pgbench on its bare SQL
    local scen=$1 log_start log_end
    stage="scenario $scen"
    section "$scen: wrk ${WARMUP_S}s warm-up + ${DURATION_S}s, then pgbench ${WARMUP_S}s warm-up + ${DURATION_S}s" \
        "(${concurrency[$scen]:-$CONNECTIONS} connections)"
    printf '{"connections": %d}\n' "${concurrency[$scen]:-$CONNECTIONS}" >"$raw/$scen.meta.json"
    run_wrk "$scen" warmup "$WARMUP_S"

    log_start=$(stat -c %s "$svc_log")
    start_sampler "$raw/$scen.pool.txt"
    cpu_snapshot "$raw/$scen.wrk.cpu0.json"
    run_wrk "$scen" wrk "$DURATION_S"
    cpu_snapshot "$raw/$scen.wrk.cpu1.json"
    stop_sampler
    log_end=$(stat -c %s "$svc_log")
    "$py" "$bench/benchlib.py" log-slice "$svc_log" "$log_start" "$log_end" "${routes[$scen]}" >"$raw/$scen.svclog.json"
    "$py" "$bench/benchlib.py" pool-samples "$raw/$scen.pool.txt" >"$raw/$scen.pool.json"
    awk '/^VmHWM:/ {printf "{\"vm_hwm_mb\": %.1f}\n", $2 / 1024}' "/proc/$svc_pid/status" >"$raw/$scen.hwm.json"
    grep -E '^ +(Latency +[0-9]|Req/Sec)|Requests/sec|requests in' "$raw/$scen.wrk.txt" | sed 's/^/    wrk: /'

    if [ -n "${alone[$scen]:-}" ]; then
        # The latency of one report with nothing else in flight (what a user waits for), apart
        # from the throughput run above.
        run_wrk "$scen" alone "$DURATION_S" 1
        grep -E '^ +(50|99)%' "$raw/$scen.alone.txt" | sed 's/^ */    wrk, 1 connection: /'
    fi
    run_pgbench "$scen" "$raw/$scen.pgbench-warmup.txt" "$WARMUP_S"
    cpu_snapshot "$raw/$scen.pgbench.cpu0.json"
    run_pgbench "$scen" "$raw/$scen.pgbench.txt" "$DURATION_S"
    cpu_snapshot "$raw/$scen.pgbench.cpu1.json"
    "$py" "$bench/benchlib.py" pgbench "$raw/$scen.pgbench.txt" >"$raw/$scen.pgbench.json"
    grep -E '^(tps|latency average)' "$raw/$scen.pgbench.txt" | sed 's/^/    pgbench: /'
}

small_id=""
for scen in get list post; do
    measure "$scen"
done

# ---- report scenarios: 1,000,000 interactions ----
if [ "$ONLY" != core ]; then

stage="seed for the reports"
section "seeding 1,000,000 interactions, visits, visit plans and follow-ups"
small_id=$(create_user bench-sales4 "压测销售 4" sales)
tokens[overdue_sales]=$(login bench-sales4 "$user_password")
seed_start=$(date +%s%N)
psql_db -q -v author="$manager_id" -v small="$small_id" -f "$bench/seed_reports.sql"
seed_ms=$((($(date +%s%N) - seed_start) / 1000000))
psql_db -At -F ' ' -c "SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM visits),
        (SELECT count(*) FROM visit_plans), (SELECT count(*) FROM follow_ups),
        (SELECT count(*) FROM customers WHERE owner_id = '$small_id')" |
    { read -r n_int n_vis n_plans n_fu n_small
      printf 'seeded %s interactions, %s visits, %s visit plans, %s follow-ups in %d ms; sales rep %s owns %s customers\n' \
          "$n_int" "$n_vis" "$n_plans" "$n_fu" "$seed_ms" "$small_id" "$n_small"; }

for scen in overdue overdue_sales completion; do
    measure "$scen"
done

# ---- KPI board and the issue-5 reports: 1,000,000 transactions ----

stage="seed for the KPI board"
section "seeding 1,000,000 transactions, survey responses, complaints, budgets and expenses"
tokens[kpis_sales]=${tokens[overdue_sales]}
seed_start=$(date +%s%N)
psql_db -q -v author="$manager_id" -f "$bench/seed_kpis.sql"
seed_ms=$((($(date +%s%N) - seed_start) / 1000000))
# Steady state: autovacuum keeps a table's pages all-visible, so the rollup's index-only scans
# skip the heap. Right after the load an autoanalyze of another table can still hold back the
# horizon and leave the seed's VACUUM without effect: vacuum again until the pages are marked.
for _ in $(seq 1 30); do
    psql_db -q -c "VACUUM transaction_rollups"
    [ "$(psql_db -At -c "SELECT relallvisible >= relpages * 0.95 FROM pg_class WHERE relname = 'transaction_rollups'")" = t ] && break
    sleep 2
done
psql_db -At -c "SELECT 'transaction_rollups: ' || relallvisible || ' of ' || relpages || ' pages all-visible'
                FROM pg_class WHERE relname = 'transaction_rollups'"
kpi_year=$(psql_db -At -c "SELECT extract(year FROM crm_today())::int")
psql_db -At -F ' ' -c "SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM survey_responses),
        (SELECT count(*) FROM complaints), (SELECT count(*) FROM budgets), (SELECT count(*) FROM expenses)" |
    { read -r n_tx n_resp n_cmp n_bud n_exp
      printf 'seeded %s transactions, %s survey responses, %s complaints, %s budgets, %s expenses in %d ms; year %s\n' \
          "$n_tx" "$n_resp" "$n_cmp" "$n_bud" "$n_exp" "$seed_ms" "$kpi_year"; }

for scen in kpis kpis_sales cost_benefit complaints; do
    measure "$scen"
done
fi

# ---- report ----

stage="report"
curl -s "$svc_url/metrics" >"$raw/metrics.txt"
get_200=$(awk '/^crm_http_requests_total\{method="GET",route="\/v1\/customers\/\{id\}",status="200"\}/ {print $2}' \
    "$raw/metrics.txt")
# The audit writer flushes reads in the background: wait until it has caught up (or stalls).
read_rows=-1
same=0
for _ in $(seq 1 40); do
    prev=$read_rows
    read_rows=$(psql_db -At -c "SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'customer'")
    [ "$read_rows" != "${get_200:-0}" ] || break
    if [ "$read_rows" = "$prev" ]; then same=$((same + 1)); else same=0; fi
    [ "$same" -lt 4 ] || break
    sleep 0.5
done
svc_errors=$(grep -c '"level":"error"' "$svc_log" || true)
grep '"level":"error"' "$svc_log" | sed -E 's/.*"msg":"([^"]*)".*/\1/' | sort | uniq -c |
    awk '{n = $1; $1 = ""; sub(/^ /, ""); printf "%s\t%s\n", n, $0}' >"$raw/service-errors.tsv" || true
printf '{"get_200": %s, "read_rows": %s, "service_error_lines": %s}\n' "${get_200:-null}" "$read_rows" "${svc_errors:-0}" \
    >"$raw/audit.json"
awk -v start="$start_rss_kb" '
    /^VmHWM:/ {hwm = $2} /^VmRSS:/ {rss = $2}
    END {printf "{\"vm_hwm_mb\": %.1f, \"vm_rss_end_mb\": %.1f, \"start_rss_mb\": %.1f}\n", hwm / 1024, rss / 1024, start / 1024}
' "/proc/$svc_pid/status" >"$raw/rss.json"

BENCH_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) BENCH_GIT=$(git rev-parse --short HEAD 2>/dev/null || echo none) \
    BENCH_PG="$pg_version" BENCH_WRK="$(wrk --version 2>&1 | head -n 1 || true)" \
    BENCH_CPU="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
    BENCH_DURATION="$DURATION_S" BENCH_WARMUP="$WARMUP_S" BENCH_SEED="$SEED_N" \
    BENCH_THREADS="$SVC_THREADS" BENCH_POOL="${SVC_POOL:-default (2 per core, at least 4)}" "$py" - >"$raw/meta.json" <<'EOF'
import json, os
e = os.environ
print(json.dumps({
    "date": e["BENCH_DATE"], "git": e["BENCH_GIT"], "postgresql": e["BENCH_PG"], "wrk_version": e["BENCH_WRK"],
    "cpu_model": e["BENCH_CPU"], "ncpu": os.cpu_count(), "duration_s": int(e["BENCH_DURATION"]),
    "warmup_s": int(e["BENCH_WARMUP"]), "customers_seeded": int(e["BENCH_SEED"]),
    "wrk": {"threads": 2, "connections": 32, "note": "default; each scenario's own in scenarios.*.connections"},
    "pgbench": "-n -M prepared -c <connections> -j 2, TCP 127.0.0.1",
    "service": {"CRM_THREADS": int(e["BENCH_THREADS"]), "CRM_DB_POOL_SIZE": int(e["BENCH_POOL"]) if e["BENCH_POOL"].isdigit() else e["BENCH_POOL"], "build": "Release"},
    "postgresql_settings": "PG_CLUSTER_FAST=1 (fsync, full_page_writes, synchronous_commit off)",
}))
EOF

report_rc=0
CRM_BENCH_ONLY="$ONLY" "$py" "$bench/benchlib.py" report "$raw" "$out/results.json" || report_rc=$?
stop_service
if [ "$report_rc" -ne 0 ]; then
    die "the benchmark had errors (see above); results are not valid"
fi
stage="done"
