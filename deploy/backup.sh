#!/usr/bin/env bash
# deploy/backup.sh — pg_dump -Fc of the compose database to a file.
#
#   deploy/backup.sh [FILE]      default: backups/crm-<UTC timestamp>.dump
#
# Runs pg_dump inside the running `db` service (same PostgreSQL version as the server, no client
# on the host needed) as POSTGRES_USER on POSTGRES_DB, streaming the custom-format dump to FILE
# (written to FILE.partial first, renamed when complete, mode 600). Consistent while the service
# keeps running (pg_dump takes one snapshot). Compose is found as `docker compose` or
# `docker-compose` (override with COMPOSE="…"); the project is the one of the current directory,
# or as set by COMPOSE_PROJECT_NAME / COMPOSE_FILE / --env-file in COMPOSE.
set -euo pipefail

# shellcheck source=compose-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compose-lib.sh"
mapfile -t compose < <(compose_cmd)

out=${1:-backups/crm-$(date -u +%Y%m%dT%H%M%SZ).dump}
mkdir -p "$(dirname "$out")"
umask 077
"${compose[@]}" exec -T db sh -c 'exec pg_dump -Fc -U "$POSTGRES_USER" -d "$POSTGRES_DB"' \
    >"$out.partial"
# A custom-format dump starts with "PGDMP"; anything else is an error message, not a backup.
if [ "$(head -c 5 "$out.partial")" != PGDMP ]; then
    printf 'backup.sh: pg_dump did not produce a dump\n' >&2
    rm -f "$out.partial"
    exit 1
fi
mv "$out.partial" "$out"
printf 'backup.sh: wrote %s (%s bytes)\n' "$out" "$(wc -c <"$out")"
