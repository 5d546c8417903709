# shellcheck shell=bash
# deploy/pg-cluster.sh — helpers for a private PostgreSQL 15 cluster (Debian bookworm).
#
# Source this file; it defines functions and changes no shell options:
#
#   pg_cluster_start   DIR PORT          initdb DIR/data if missing, then start (waits until ready)
#   pg_cluster_stop    DIR               fast shutdown; succeeds when nothing is running
#   pg_cluster_running DIR               status 0 when the cluster in DIR is running
#   pg_cluster_psql    DIR PORT DB [ARGS…] psql as superuser "postgres" over DIR/run
#   pg_cluster_ensure_db DIR PORT DB     create database DB unless it exists
#   pg_free_port                         print a free TCP port on 127.0.0.1
#   crm_install_deps                     apt-get install whatever build/test deps are missing
#
# Layout of DIR: data/ (PGDATA), run/ (unix socket), postgresql.log.
# The superuser is always "postgres" (initdb -U postgres), authentication is trust, and only over
# the unix socket in DIR/run and 127.0.0.1 — never for other hosts.
# PostgreSQL refuses to run as root: when the caller is root, DIR is chowned to the "postgres"
# user and the server binaries run through `runuser -u postgres`.
# Set PG_CLUSTER_FAST=1 before pg_cluster_start for a throwaway cluster: fsync, full-page writes
# and synchronous commit are turned off (never for data you want to keep).
# PG_BIN overrides the binary directory (default /usr/lib/postgresql/15/bin).

_pg_bin() {
    printf '%s\n' "${PG_BIN:-/usr/lib/postgresql/15/bin}"
}

_pg_err() {
    printf 'pg-cluster: %s\n' "$*" >&2
}

_pg_is_root() {
    [ "$(id -u)" -eq 0 ]
}

# Run a PostgreSQL server-side binary (initdb, pg_ctl, …) as the right user, from DIR
# (a root-only working directory such as /root would make them complain).
_pg_run() {
    local dir=$1
    shift
    if _pg_is_root; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

_pg_ensure_postgres_user() {
    if id -u postgres >/dev/null 2>&1; then
        return 0
    fi
    _pg_err "creating system user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/bash --comment "PostgreSQL administrator" postgres || return 1
}

# Print DIR as an absolute path (binaries run with DIR as working directory).
_pg_abs() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

# Print the port the running postmaster of DIR listens on (line 4 of postmaster.pid).
_pg_running_port() {
    sed -n 4p "$1/data/postmaster.pid" 2>/dev/null
}

pg_cluster_running() {
    local dir
    dir=$(_pg_abs "${1:?usage: pg_cluster_running DIR}")
    [ -f "$dir/data/PG_VERSION" ] || return 1
    [ -f "$dir/data/postmaster.pid" ] || return 1
    _pg_run "$dir" "$(_pg_bin)/pg_ctl" status -D "$dir/data" >/dev/null 2>&1
}

pg_cluster_start() {
    if [ $# -ne 2 ]; then
        _pg_err "usage: pg_cluster_start DIR PORT"
        return 2
    fi
    local dir=$1 port=$2 bin
    bin=$(_pg_bin)
    case $port in
        '' | *[!0-9]*) _pg_err "bad port: $port"; return 2 ;;
    esac
    if [ ! -x "$bin/pg_ctl" ]; then
        _pg_err "$bin/pg_ctl not found (install postgresql-15, or set PG_BIN)"
        return 1
    fi
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd -P) || return 1
    if [ "$dir" = / ]; then
        _pg_err "refusing to use / as the cluster directory"
        return 1
    fi
    mkdir -p "$dir/run" || return 1

    if _pg_is_root; then
        _pg_ensure_postgres_user || return 1
        chown -R postgres:postgres "$dir" || return 1
        chmod 755 "$dir" || return 1
        if ! runuser -u postgres -- test -w "$dir"; then
            _pg_err "user postgres cannot reach $dir (a parent directory is not searchable by it)"
            return 1
        fi
    fi

    if pg_cluster_running "$dir"; then
        local running_port
        running_port=$(_pg_running_port "$dir")
        if [ "$running_port" != "$port" ]; then
            _pg_err "cluster in $dir is already running on port $running_port, not $port"
            return 1
        fi
        return 0
    fi

    if [ ! -f "$dir/data/PG_VERSION" ]; then
        if [ -e "$dir/data" ] && [ -n "$(ls -A "$dir/data" 2>/dev/null)" ]; then
            _pg_err "$dir/data exists but is not a PostgreSQL data directory"
            return 1
        fi
        if ! _pg_run "$dir" "$bin/initdb" -D "$dir/data" -U postgres \
            --locale=C.UTF-8 --encoding=UTF8 --auth=trust >"$dir/initdb.log" 2>&1; then
            _pg_err "initdb failed:"
            cat "$dir/initdb.log" >&2
            return 1
        fi
        # Trust, but only over the unix socket and loopback IPv4 (the only address we listen on).
        cat >"$dir/data/pg_hba.conf" <<'EOF'
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
EOF
        printf "\ninclude_if_exists = 'pg-cluster.conf'\n" >>"$dir/data/postgresql.conf"
        if _pg_is_root; then
            chown postgres:postgres "$dir/data/pg_hba.conf" "$dir/data/postgresql.conf" \
                "$dir/initdb.log" || return 1
        fi
    fi

    # Rewritten on every start so a reused data directory can move to another port.
    {
        printf "# written by deploy/pg-cluster.sh on every start\n"
        printf "listen_addresses = '127.0.0.1'\n"
        printf "port = %s\n" "$port"
        printf "unix_socket_directories = '%s'\n" "${dir//\'/\'\'}/run"
        printf "max_connections = 200\n"
        printf "timezone = 'UTC'\n"
        printf "log_timezone = 'UTC'\n"
        if [ "${PG_CLUSTER_FAST:-0}" = 1 ]; then
            printf "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
        fi
    } >"$dir/data/pg-cluster.conf" || return 1
    if _pg_is_root; then
        chown postgres:postgres "$dir/data/pg-cluster.conf" || return 1
    fi

    if ! _pg_run "$dir" "$bin/pg_ctl" start -w -t 60 -D "$dir/data" \
        -l "$dir/postgresql.log" >/dev/null 2>&1; then
        _pg_err "could not start the cluster in $dir on port $port; end of $dir/postgresql.log:"
        tail -n 20 "$dir/postgresql.log" >&2 2>/dev/null
        return 1
    fi
}

pg_cluster_stop() {
    if [ $# -ne 1 ]; then
        _pg_err "usage: pg_cluster_stop DIR"
        return 2
    fi
    local dir
    dir=$(_pg_abs "$1")
    [ -d "$dir" ] || return 0
    pg_cluster_running "$dir" || return 0
    if ! _pg_run "$dir" "$(_pg_bin)/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null 2>&1; then
        if pg_cluster_running "$dir"; then
            _pg_err "could not stop the cluster in $dir"
            return 1
        fi
    fi
    return 0
}

pg_cluster_psql() {
    if [ $# -lt 3 ]; then
        _pg_err "usage: pg_cluster_psql DIR PORT DB [psql args…]"
        return 2
    fi
    local dir port=$2 db=$3
    dir=$(_pg_abs "$1")
    shift 3
    # psql is only a client: it runs as the caller and connects as superuser "postgres".
    PGCONNECT_TIMEOUT=10 "$(_pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U postgres -d "$db" "$@"
}

pg_cluster_ensure_db() {
    if [ $# -ne 3 ]; then
        _pg_err "usage: pg_cluster_ensure_db DIR PORT DB"
        return 2
    fi
    local dir=$1 port=$2 db=$3 exists
    exists=$(pg_cluster_psql "$dir" "$port" postgres -At \
        -v "db=$db" <<'EOF'
SELECT 1 FROM pg_database WHERE datname = :'db';
EOF
    ) || return 1
    [ "$exists" = 1 ] && return 0
    pg_cluster_psql "$dir" "$port" postgres -v "db=$db" <<'EOF'
CREATE DATABASE :"db";
EOF
}

pg_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    # Fallback: probe random high ports until nothing answers on one.
    local port i
    for i in $(seq 1 100); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    _pg_err "no free port found"
    return 1
}

crm_install_deps() {
    local pkgs=(build-essential cmake pkg-config libcivetweb-dev libpq-dev libjansson-dev
        libjwt-dev libssl-dev libcmocka-dev postgresql-15 python3 python3-pytest
        python3-requests python3-jsonschema python3-yaml python3-kubernetes pgbouncer wrk curl tzdata)
    # On bookworm postgresql-contrib-15 is only a virtual package (provided by postgresql-15).
    if [ -n "$(apt-cache madison postgresql-contrib-15 2>/dev/null)" ]; then
        pkgs+=(postgresql-contrib-15)
    else
        pkgs+=(postgresql-contrib)
    fi
    local missing=() p
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0

    local sudo=()
    if ! _pg_is_root; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            _pg_err "missing packages (${missing[*]}) and neither root nor sudo available"
            return 1
        fi
    fi
    printf 'crm_install_deps: installing %s\n' "${missing[*]}"
    local log
    log=$(mktemp) || return 1
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
        _pg_err "apt-get failed:"
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# stop_process PID NAME — SIGTERM, wait up to 30 s for a graceful exit (the
# service lets in-flight requests finish), then SIGKILL. Reaps the child.
stop_process() {
    local pid=$1 name=$2 i
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            printf '%s did not stop within 30 s of SIGTERM; killing it\n' "$name" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}
