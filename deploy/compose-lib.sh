# shellcheck shell=bash
# deploy/compose-lib.sh — sourced by deploy/backup.sh, deploy/restore.sh and the container test.
#
#   compose_cmd    print the compose command, one word a line: $COMPOSE if set (a command line,
#                  e.g. "docker-compose --env-file x -p y"), else `docker compose` when the v2
#                  plugin answers, else `docker-compose` (Debian's 1.29)
#
# Use: mapfile -t compose < <(compose_cmd); "${compose[@]}" ps

compose_cmd() {
    if [ -n "${COMPOSE:-}" ]; then
        # shellcheck disable=SC2086 # COMPOSE is a command line
        printf '%s\n' $COMPOSE
    elif docker compose version >/dev/null 2>&1; then
        printf '%s\n' docker compose
    else
        printf '%s\n' docker-compose
    fi
}
