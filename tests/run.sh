#!/usr/bin/env bash
# tests/run.sh — the whole test suite, as CI runs it (.ci/run calls this).
#
#   tests/run.sh          Debug build + ctest, then an ASan/UBSan build + ctest
#   tests/run.sh --fast   skip the sanitizer pass
#   RUN_CONTAINER_TESTS=1 tests/run.sh   also docker-compose.yml for real (tests/container/run.sh)
#
# The Debug pass includes the operations tests: api_pgbouncer (the API suite through PgBouncer in
# transaction mode), replica (primary + streaming standby) and k8s_manifests; they start their own
# PostgreSQL clusters.
#
# Each pass runs against its own database in a throwaway PostgreSQL 15 cluster (temp dir, free
# port), stopped and removed on exit whatever happens. ctest sees
#   CRM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:<port>/<crm_test|crm_test_asan>
# (superuser "postgres", trust auth, loopback only). The exit status is non-zero if any step or
# any test failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../deploy/pg-cluster.sh
source deploy/pg-cluster.sh

fast=0
for arg in "$@"; do
    case $arg in
        --fast) fast=1 ;;
        -h | --help)
            sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            printf 'tests/run.sh: unknown argument: %s (try --help)\n' "$arg" >&2
            exit 2
            ;;
    esac
done

pg_dir=""
stage="start-up"
summary=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$pg_dir" ]; then
        pg_cluster_stop "$pg_dir" || true
        rm -rf "$pg_dir"
    fi
    if [ "$rc" -ne 0 ] && [ "$stage" != done ]; then
        printf 'tests/run.sh: FAILED during %s (exit %d)\n' "$stage" "$rc" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section() {
    printf '\n==> %s\n' "$*"
}

# The API tests use Debian's python3 packages (python3-pytest, -requests, -jsonschema, -yaml).
# If another python3 (pyenv, venv) comes first in PATH and lacks them, prefer the system one.
prefer_system_python() {
    local mods='import pytest, requests, jsonschema, yaml'
    if ! python3 -c "$mods" >/dev/null 2>&1 && /usr/bin/python3 -c "$mods" >/dev/null 2>&1; then
        printf 'tests/run.sh: using /usr/bin/python3 (the python3 in PATH lacks the test modules)\n'
        export PATH="/usr/bin:$PATH"
    fi
}

# run_ctest LABEL BUILD_DIR DB — records PASS/FAIL in the summary, never aborts the script.
run_ctest() {
    local label=$1 build_dir=$2 db=$3 rc=0
    export CRM_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/$db"
    section "ctest ($label) with CRM_TEST_DATABASE_URL=$CRM_TEST_DATABASE_URL"
    ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --timeout 900 || rc=$?
    if [ "$rc" -eq 0 ]; then
        summary+=("$label: PASS")
    else
        summary+=("$label: FAIL (ctest exit $rc)")
        failed=1
    fi
}

failed=0

stage="dependency check"
crm_install_deps
prefer_system_python

stage="Debug build (build/test)"
section "$stage"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DCRM_WERROR=ON
cmake --build build/test -j2

stage="PostgreSQL start"
section "$stage"
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/crm-test-pg.XXXXXX")
pg_port=$(pg_free_port)
PG_CLUSTER_FAST=1 pg_cluster_start "$pg_dir" "$pg_port"
pg_cluster_ensure_db "$pg_dir" "$pg_port" crm_test
pg_cluster_ensure_db "$pg_dir" "$pg_port" crm_test_asan
printf 'PostgreSQL %s running in %s on 127.0.0.1:%s\n' \
    "$(pg_cluster_psql "$pg_dir" "$pg_port" postgres -At -c 'SHOW server_version')" "$pg_dir" "$pg_port"

stage="ctest (Debug)"
run_ctest "Debug" build/test crm_test

if [ "$fast" -eq 0 ]; then
    stage="ASan/UBSan build (build/asan)"
    section "$stage"
    cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCRM_WERROR=ON -DCRM_SANITIZE=ON
    cmake --build build/asan -j2

    stage="ctest (ASan/UBSan)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_ctest "ASan/UBSan" build/asan crm_test_asan
    unset ASAN_OPTIONS UBSAN_OPTIONS
else
    summary+=("ASan/UBSan: skipped (--fast)")
fi

if [ "${RUN_CONTAINER_TESTS:-0}" = 1 ]; then
    stage="container test"
    section "$stage (tests/container/run.sh)"
    crc=0
    bash tests/container/run.sh || crc=$?
    case $crc in
        0) summary+=("container: PASS") ;;
        2) summary+=("container: COULD NOT RUN here (see above)"); failed=1 ;;
        *) summary+=("container: FAIL (exit $crc)"); failed=1 ;;
    esac
else
    summary+=("container: skipped (RUN_CONTAINER_TESTS=1 runs it)")
fi

stage=done
section "summary"
joined=$(IFS=';'; printf '%s' "${summary[*]}")
if [ "$failed" -eq 0 ]; then
    printf 'tests/run.sh: ALL PASSED — %s\n' "${joined//;/, }"
    exit 0
fi
printf 'tests/run.sh: FAILED — %s\n' "${joined//;/, }"
exit 1
