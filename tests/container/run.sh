#!/usr/bin/env bash
# tests/container/run.sh — docker-compose.yml for real, on this machine (about 3 minutes when the
# images are cached; the first run builds them, several minutes more).
#
#   tests/container/run.sh                 or: RUN_CONTAINER_TESTS=1 tests/run.sh
#
# 1. Installs Debian's docker.io, docker-compose and debootstrap if missing.
# 2. Starts a private dockerd: data root .local/container/docker (kept: image cache), exec root,
#    socket and pidfile in a temp dir; nothing touches a system dockerd.
# 3. No image registry is reachable here, so the base images are made locally: a
#    `debootstrap --variant=minbase bookworm` root file system (tarball cached in
#    .local/container/) imported as debian:bookworm and debian:bookworm-slim, and stand-ins tagged
#    postgres:15 and nginx:stable (tests/container/images/) that honour the official images'
#    environment variables and entry-point behaviour that docker-compose.yml uses. The compose
#    file itself is exactly what operations run against the real registry.
# 4. `up --build` with PORT=0 (Docker picks a free loopback port, read back with `port`), waits
#    for health, then through the proxy: smoke (token, create + read a customer, list,
#    X-Request-Id, body limit), both replicas served, a bounded read load while one `api` replica
#    is SIGKILLed (no request lost beyond the proxy's retry), a `db` restart and recovery, and
#    deploy/backup.sh + deploy/restore.sh into a fresh database with equal row counts per table.
# 5. `down -v`, then dockerd is stopped by its pid — whatever happened.
#
# When dockerd cannot run in this sandbox (no privileges, cgroups or storage driver), the test
# says so and exits 2 without claiming anything.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
# shellcheck source=../../deploy/pg-cluster.sh
source deploy/pg-cluster.sh
# shellcheck source=../../deploy/compose-lib.sh
source deploy/compose-lib.sh

say() { printf 'container-test: %s\n' "$*"; }
t0=$SECONDS
step() { printf '\n==> [%3ds] %s\n' "$((SECONDS - t0))" "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "needs root (a private dockerd)"
    exit 2
fi

step "dependencies"
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
python3 -c 'import requests' >/dev/null 2>&1 || need+=(python3-requests)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's docker client (the daemon's own version) and python3 (with python3-requests) first.
export PATH="/usr/sbin:/usr/bin:$PATH"
command -v docker >/dev/null 2>&1 || { say "no docker client"; exit 1; }

state=$repo/.local/container
mkdir -p "$state"
run=$(mktemp -d /tmp/crm-ct.XXXXXX) # short: unix socket paths are limited to 108 bytes
dockerd_pid=""
project="crmct$$"
compose_up=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$compose_up" = 1 ]; then
        step "down -v"
        "${compose[@]}" down -v --remove-orphans >"$run/down.log" 2>&1 || tail -n 20 "$run/down.log" >&2
    fi
    if [ -n "$dockerd_pid" ]; then
        stop_process "$dockerd_pid" dockerd
    fi
    if [ "$rc" -ne 0 ] && [ -f "$run/dockerd.log" ] && [ "${show_dockerd_log:-0}" = 1 ]; then
        tail -n 30 "$run/dockerd.log" >&2
    fi
    rm -rf "$run"
    say "done in $((SECONDS - t0)) s, exit $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "private dockerd"
export DOCKER_HOST="unix://$run/docker.sock"
# Image builds use the default bridge (NAT) to reach Debian's archive for apt-get.
dockerd --data-root "$state/docker" --exec-root "$run/exec" --host "$DOCKER_HOST" \
    --pidfile "$run/docker.pid" >"$run/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
if ! docker info >/dev/null 2>&1; then
    show_dockerd_log=1
    say "dockerd cannot run in this sandbox (see its log below): the container test did not run"
    exit 2
fi
say "dockerd $(docker version --format '{{.Server.Version}}') pid $dockerd_pid, storage $(docker info --format '{{.Driver}}')"
# Can it start a container at all (namespaces, cgroups, overlay)? Checked with the base image below.

step "base images (debootstrap --variant=minbase bookworm, cached)"
tarball=$state/bookworm-minbase.tar.gz
if [ ! -s "$tarball" ]; then
    rootfs=$run/rootfs
    say "debootstrap into $rootfs (once; the tarball is kept in .local/container)"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$run/debootstrap.log" 2>&1 || {
        tail -n 20 "$run/debootstrap.log" >&2
        exit 1
    }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf - . | gzip -1 >"$tarball.partial"
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
fi
base_id=$(docker image inspect --format '{{index .Config.Labels "crm.rootfs"}}' debian:bookworm 2>/dev/null || true)
tar_id=$(stat -c %Y-%s "$tarball")
if [ "$base_id" != "$tar_id" ]; then
    docker import -c 'CMD ["bash"]' -c "LABEL crm.rootfs=$tar_id" \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        "$tarball" debian:bookworm >/dev/null
fi
docker tag debian:bookworm debian:bookworm-slim
if ! docker run --rm debian:bookworm-slim true >"$run/run-check.log" 2>&1; then
    cat "$run/run-check.log" >&2
    show_dockerd_log=1
    say "dockerd runs but cannot start a container here (see above): the container test did not run"
    exit 2
fi

step "stand-in images postgres:15 and nginx:stable"
docker build -q --force-rm -t postgres:15 tests/container/images/postgres >/dev/null
docker build -q --force-rm -t nginx:stable tests/container/images/nginx >/dev/null

step "compose up --build (PORT=0: a free loopback port)"
cat >"$run/test.env" <<EOF
PORT=0
POSTGRES_USER=crm
POSTGRES_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
POSTGRES_DB=crm
CRM_JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0)
CRM_ADMIN_PASSWORD=ct-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
CRM_TIMEZONE=Asia/Shanghai
CRM_THREADS=16
CRM_DB_POOL_SIZE=4
EOF
admin_password=$(sed -n 's/^CRM_ADMIN_PASSWORD=//p' "$run/test.env")
export COMPOSE="docker-compose --env-file $run/test.env -p $project -f $repo/docker-compose.yml"
mapfile -t compose < <(compose_cmd)
compose_up=1
if ! "${compose[@]}" up -d --build >"$run/up.log" 2>&1; then
    tail -n 40 "$run/up.log" >&2
    "${compose[@]}" logs --tail 30 >&2 || true
    exit 1
fi
hostport=$("${compose[@]}" port proxy 8080)
base="http://$hostport"
case $hostport in
    127.0.0.1:[0-9]*) ;;
    *) say "the proxy is published on '$hostport', not on 127.0.0.1"; exit 1 ;;
esac
mapfile -t api_ids < <("${compose[@]}" ps -q api)
published=$(docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Ports}}' |
    grep -c -- '->' || true)
say "proxy on $base; ${#api_ids[@]} api replicas; containers publishing a port: $published"
[ "${#api_ids[@]}" -eq 2 ] || { say "expected 2 api replicas"; exit 1; }
[ "$published" -eq 1 ] || { say "only the proxy may publish a port"; exit 1; }

for _ in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)
    [ "$code" = 200 ] && break
    sleep 0.5
done
[ "$code" = 200 ] || { say "not ready through the proxy (last $code)"; "${compose[@]}" logs --tail 30 >&2; exit 1; }
migrate_rc=$(docker inspect --format '{{.State.ExitCode}}' "$("${compose[@]}" ps -q migrate)")
say "ready; migrate exited $migrate_rc"
[ "$migrate_rc" = 0 ] || exit 1

step "smoke through the proxy"
py=python3
"$py" tests/container/smoke.py smoke "$base" "$admin_password" "$run/state.json"
"$py" tests/container/smoke.py load "$base" "$run/state.json" 3
for id in "${api_ids[@]}"; do
    n=$(docker logs "$id" 2>&1 | grep -c '"msg":"request"' || true)
    say "replica ${id:0:12} served $n requests"
    [ "$n" -gt 0 ] || { say "round robin: a replica got no request"; exit 1; }
done

step "kill one api replica (SIGKILL) under a bounded load"
"$py" tests/container/smoke.py load "$base" "$run/state.json" 8 &
load_pid=$!
sleep 2
# A crash, not `docker kill` (which Docker counts as a manual stop and never restarts): SIGKILL
# to the replica's process, as the kernel's OOM killer would.
victim=$(docker inspect --format '{{.State.Pid}}' "${api_ids[0]}")
kill -KILL "$victim"
say "SIGKILLed crm-service (pid $victim) of replica ${api_ids[0]:0:12}"
wait "$load_pid"
for _ in $(seq 1 90); do
    [ "$(docker inspect --format '{{.State.Health.Status}}' "${api_ids[0]}")" = healthy ] && break
    sleep 0.5
done
state_line=$(docker inspect --format '{{.State.Status}}/{{.State.Health.Status}} after {{.RestartCount}} restart(s)' "${api_ids[0]}")
say "the killed replica is $state_line (restart: unless-stopped)"
case $state_line in
    running/healthy*) ;;
    *) say "the killed replica did not come back"; exit 1 ;;
esac
started=$(docker inspect --format '{{.State.StartedAt}}' "${api_ids[0]}")
"$py" tests/container/smoke.py load "$base" "$run/state.json" 2
served=$(docker logs --since "$started" "${api_ids[0]}" 2>&1 | grep -c '"msg":"request"' || true)
say "since its restart it served $served requests through the proxy"
[ "$served" -gt 0 ] || { say "the proxy does not use the restarted replica"; exit 1; }

step "restart db"
# One client reading across the restart: the service's 503 while the database is away (never a
# proxy 502 or a dropped connection), 200 again after.
"$py" tests/container/smoke.py probe "$base" "$run/state.json" 15 &
probe_pid=$!
sleep 2
"${compose[@]}" restart db >/dev/null 2>&1
wait "$probe_pid"
"$py" tests/container/smoke.py wait "$base" "$run/state.json" 60
"$py" tests/container/smoke.py load "$base" "$run/state.json" 2

step "backup and restore into a fresh database"
# No writes while the counts are compared: stop the replicas (the proxy stays).
"${compose[@]}" stop api >/dev/null 2>&1
deploy/backup.sh "$run/crm.dump"
deploy/restore.sh "$run/crm.dump" crm_restored
counts_sql="SELECT table_name || ' ' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
"${compose[@]}" exec -T db sh -c 'exec psql -qAt -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"' sh "$counts_sql" \
    >"$run/counts.live"
"${compose[@]}" exec -T db sh -c 'exec psql -qAt -U "$POSTGRES_USER" -d crm_restored -c "$1"' sh "$counts_sql" \
    >"$run/counts.restored"
say "$(wc -l <"$run/counts.live") tables; customers: $(grep '^customers ' "$run/counts.live" | cut -d' ' -f2), audit_log: $(grep '^audit_log ' "$run/counts.live" | cut -d' ' -f2)"
if ! diff -u "$run/counts.live" "$run/counts.restored"; then
    say "row counts differ after restore"
    exit 1
fi
[ "$(grep '^customers ' "$run/counts.live" | cut -d' ' -f2)" -ge 1 ] || { say "no customers to compare"; exit 1; }
say "row counts equal in every table"

step "container test passed"
