# shellcheck shell=bash
# tests/ops-lib.sh — what the operations tests (tests/pgbouncer, tests/replica) share. Source it
# after deploy/pg-cluster.sh, from the repository root.
#
#   ops_find_bin NAME   print the crm-service binary: $CRM_BIN, else build/test or build/;
#                       exit 2 with a message naming the test NAME when there is none
#   ops_python          print a python3 that has the API tests' modules (the system one if the
#                       python3 in PATH lacks them)

ops_find_bin() {
    local name=$1 bin=${CRM_BIN:-} cand
    if [ -z "$bin" ]; then
        for cand in build/test/crm-service build/crm-service; do
            [ -x "$cand" ] && bin=$PWD/$cand && break
        done
    fi
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        printf '%s: CRM_BIN is not set and no built binary was found\n' "$name" >&2
        exit 2
    fi
    printf '%s\n' "$bin"
}

ops_python() {
    if python3 -c 'import pytest, requests, jsonschema, yaml' >/dev/null 2>&1; then
        printf 'python3\n'
    else
        printf '/usr/bin/python3\n'
    fi
}
