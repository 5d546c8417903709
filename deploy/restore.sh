#!/usr/bin/env bash
# deploy/restore.sh — restore a deploy/backup.sh dump into the compose database server.
#
#   deploy/restore.sh FILE [DATABASE]
#
# DATABASE (default: a new database named crm_restore_<UTC timestamp>) must not exist: it is
# created empty and the dump restored into it with pg_restore (--no-owner, --exit-on-error, one
# transaction), so a failed restore leaves nothing half-done and the live database is never
# touched. To switch the service over, stop `api`, rename the databases (ALTER DATABASE … RENAME
# TO …) or point POSTGRES_DB at the restored one, and start `api` again (README "Operations").
# Compose is found as in deploy/backup.sh.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1" ]; then
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
file=$1
target=${2:-crm_restore_$(date -u +%Y%m%dT%H%M%SZ)}
case $target in
    *[!a-zA-Z0-9_]* | [0-9]*) printf 'restore.sh: database name must be [a-zA-Z_][a-zA-Z0-9_]*\n' >&2; exit 2 ;;
esac

# shellcheck source=compose-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compose-lib.sh"
mapfile -t compose < <(compose_cmd)

"${compose[@]}" exec -T db sh -c 'exec createdb -U "$POSTGRES_USER" -T template0 -E UTF8 "$1"' \
    sh "$target"
"${compose[@]}" exec -T db sh -c \
    'exec pg_restore -U "$POSTGRES_USER" -d "$1" --no-owner --exit-on-error --single-transaction' \
    sh "$target" <"$file"
printf 'restore.sh: restored %s into database %s\n' "$file" "$target"
