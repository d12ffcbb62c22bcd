#!/usr/bin/env bash
# Manages a throwaway PostgreSQL cluster for the test suite.
#
#   pg-test-cluster.sh start DIR   initdb (first time) + start on a free 127.0.0.1 port (a
#                                  restart reuses the previous one); prints URL
#   pg-test-cluster.sh stop DIR    fast shutdown; a no-op when it is not running
#   pg-test-cluster.sh url DIR     prints the URL of a started cluster
#
# The URL (postgresql://postgres@127.0.0.1:PORT/nomnom_test) is also written to DIR/url.
# PG_BIN overrides the PostgreSQL bin directory (default: newest /usr/lib/postgresql/*/bin).
set -euo pipefail

readonly DB_NAME=nomnom_test
readonly START_ATTEMPTS=5
readonly READY_TIMEOUT_S=30

die() {
    echo "pg-test-cluster.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 {start|stop|url} DIR" >&2
    exit 2
}

find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/pg_ctl" ]] || die "PG_BIN=$PG_BIN has no pg_ctl"
        echo "$PG_BIN"
        return
    fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$newest" && -x "$newest/pg_ctl" ]] ||
        die "no PostgreSQL found under /usr/lib/postgresql (run scripts/deps.sh)"
    echo "$newest"
}

# initdb and postgres refuse to run as root, so root runs the server as the postgres OS user.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

is_running() {
    [[ -f "$DIR/data/postmaster.pid" ]] && as_owner "$PG_BIN/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1
}

init_cluster() {
    # --no-sync only skips initdb's final flush of the fresh files; the server keeps fsync=on.
    as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 \
        --no-locale --no-sync >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        die "initdb failed"
    }
    as_owner mkdir -p "$DIR/run"
    as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null <<CONF

# nomnom test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/run'
shared_buffers = 32MB
max_connections = 200
log_min_messages = warning
CONF
    as_owner tee "$DIR/data/pg_hba.conf" >/dev/null <<'HBA'
local all all trust
host all all 127.0.0.1/32 trust
HBA
}

wait_ready() {
    local port=$1 deadline=$((SECONDS + READY_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

cmd_start() {
    # The unix socket path (DIR/run/.s.PGSQL.PORT) must fit in sockaddr_un.sun_path (108 bytes).
    ((${#DIR} <= 80)) || die "DIR path too long for a unix socket: $DIR"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$DIR"
        runuser -u postgres -- test -w "$DIR" ||
            die "user postgres cannot reach $DIR (check the permissions of its parents)"
    fi
    cd "$DIR"

    if is_running; then
        cmd_url
        return
    fi
    [[ -f "$DIR/data/PG_VERSION" ]] || init_cluster

    # A restarted cluster comes back on its previous port, so that clients (a host under test
    # across a database outage) can reconnect to the same URL.
    local attempt port="" previous_port=""
    if [[ -f "$DIR/url" ]]; then
        previous_port=$(sed -n 's|.*@127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$DIR/url")
    fi
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        if ((attempt == 1)) && [[ -n "$previous_port" ]]; then
            port=$previous_port
        else
            port=$(free_port)
        fi
        # Another process may grab the port between probing and binding; then try another.
        if as_owner "$PG_BIN/pg_ctl" start -D "$DIR/data" -l "$DIR/postgres.log" -w \
            -t "$READY_TIMEOUT_S" -o "-p $port" >/dev/null; then
            break
        fi
        port=""
    done
    [[ -n "$port" ]] || {
        tail -n 20 "$DIR/postgres.log" >&2 || true
        die "postgres did not start after $START_ATTEMPTS attempts (log: $DIR/postgres.log)"
    }
    wait_ready "$port" || die "postgres on port $port not ready within ${READY_TIMEOUT_S}s"

    local exists
    exists=$("$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")
    if [[ "$exists" != 1 ]]; then
        "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
            -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB_NAME" >/dev/null
    fi

    local url="postgresql://postgres@127.0.0.1:$port/$DB_NAME"
    as_owner tee "$DIR/url" >/dev/null <<<"$url"
    echo "$url"
}

cmd_stop() {
    [[ -d "$DIR" ]] || return 0
    cd "$DIR"
    if is_running; then
        as_owner "$PG_BIN/pg_ctl" stop -D "$DIR/data" -m fast -w -t "$READY_TIMEOUT_S" >/dev/null
    fi
}

cmd_url() {
    [[ -f "$DIR/url" ]] || die "no cluster started in $DIR"
    cat "$DIR/url"
}

(($# == 2)) || usage
DIR=$2
[[ "$1" != start ]] || mkdir -p "$DIR"
# pg_ctl runs from inside DIR, so every path handed to it must be absolute.
if [[ -d "$DIR" ]]; then
    DIR=$(cd "$DIR" && pwd)
fi
PG_BIN=$(find_pg_bin)

case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
url) cmd_url ;;
*) usage ;;
esac
