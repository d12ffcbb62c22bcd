#!/usr/bin/env bash
# Manages a throwaway MariaDB server for the test suite (the MariaDB counterpart of
# pg-test-cluster.sh).
#
#   mariadb-test-server.sh start DIR   mariadb-install-db (first time) + start on a free
#                                      127.0.0.1 port (a restart reuses the previous one);
#                                      prints URL
#   mariadb-test-server.sh stop DIR    clean shutdown; a no-op when it is not running
#   mariadb-test-server.sh kill DIR    SIGKILL, as a crash or an outage would end it; a no-op
#                                      when it is not running (start recovers it)
#   mariadb-test-server.sh url DIR     prints the URL of a started server
#
# The URL (mysql://nomnom:nomnom@127.0.0.1:PORT/nomnom_test) is also written to DIR/url. The
# user nomnom may do anything, from 127.0.0.1 and localhost, including create and drop
# databases. MARIADB_BIN overrides the directory of mariadbd (default /usr/sbin).
set -euo pipefail

readonly DB_NAME=nomnom_test
readonly DB_USER=nomnom
readonly DB_PASSWORD=nomnom
readonly START_ATTEMPTS=5
readonly READY_TIMEOUT_S=60
readonly STOP_TIMEOUT_S=60

die() {
    echo "mariadb-test-server.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 {start|stop|kill|url} DIR" >&2
    exit 2
}

find_tools() {
    local dir=${MARIADB_BIN:-/usr/sbin}
    MARIADBD=$dir/mariadbd
    [[ -x "$MARIADBD" ]] || die "no $MARIADBD (run scripts/deps.sh, or set MARIADB_BIN)"
    INSTALL_DB=$(command -v mariadb-install-db || true)
    CLIENT=$(command -v mariadb || true)
    ADMIN=$(command -v mariadb-admin || true)
    [[ -n "$INSTALL_DB" && -n "$CLIENT" && -n "$ADMIN" ]] ||
        die "mariadb-install-db, mariadb or mariadb-admin not found (run scripts/deps.sh)"
}

# mariadbd refuses to run as root without --user; root runs it as the mysql OS user, which
# must then own DIR. Anyone else runs it as themselves.
server_user_option() {
    if [[ $(id -u) -eq 0 ]]; then
        echo "--user=mysql"
    fi
}

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u mysql -- "$@"
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

# The pid of the server running on DIR's datadir, or nothing. The pid file outlives a killed
# server, and its pid may have been reused since, so the process must also be a mariadbd whose
# command line names this config.
server_pid() {
    local pid
    [[ -f "$DIR/run/mariadbd.pid" ]] || return 0
    pid=$(<"$DIR/run/mariadbd.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--defaults-file=$DIR/my.cnf"; then
        echo "$pid"
    fi
}

# Waits until process `pid` is gone (or a zombie, for a child of this shell); 1 on timeout.
wait_gone() {
    local pid=$1 timeout_s=$2 state
    local deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || true)
        [[ -z "$state" || "$state" == Z ]] && return 0
        sleep 0.2
    done
    return 1
}

write_config() {
    # One file for mariadb-install-db and mariadbd; nothing of /etc/mysql is read (a system
    # server's config must not leak into the tests).
    as_owner tee "$DIR/my.cnf" >/dev/null <<CONF
[mariadbd]
datadir = $DIR/data
socket = $DIR/run/mysqld.sock
pid-file = $DIR/run/mariadbd.pid
log-error = $DIR/mariadbd.log
bind-address = 127.0.0.1
skip-name-resolve
# The host loads batches with LOAD DATA LOCAL INFILE.
local_infile = ON
skip-log-bin
max_connections = 300
innodb_buffer_pool_size = 128M
innodb_log_file_size = 64M
# Binary comparison, as PostgreSQL's C collation in pg-test-cluster.sh: 'a' and 'A' are
# different keys. utf8mb4_bin is still PAD SPACE (trailing spaces do not tell keys apart); a
# table that needs otherwise says its collation itself.
character-set-server = utf8mb4
collation-server = utf8mb4_bin
# Containers often deny the kernel's asynchronous I/O; the fallback would only log warnings.
innodb_use_native_aio = OFF
CONF
}

init_server() {
    write_config
    as_owner mkdir -p "$DIR/run"
    # Run once, after the system tables: the account the tests connect with, and their database.
    # The bootstrap runs without grant tables until FLUSH PRIVILEGES loads them.
    as_owner tee "$DIR/init.sql" >/dev/null <<SQL
FLUSH PRIVILEGES;
CREATE USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
CREATE DATABASE $DB_NAME;
SQL
    # Into a scratch datadir first: a datadir that exists is an initialised one, even after an
    # interrupted run.
    rm -rf "$DIR/data.init"
    # shellcheck disable=SC2046
    "$INSTALL_DB" --defaults-file="$DIR/my.cnf" --datadir="$DIR/data.init" \
        $(server_user_option) --skip-name-resolve --skip-test-db --extra-file="$DIR/init.sql" \
        >"$DIR/install-db.log" 2>&1 || {
        cat "$DIR/install-db.log" >&2
        die "mariadb-install-db failed (log: $DIR/install-db.log)"
    }
    as_owner mv "$DIR/data.init" "$DIR/data"
}

client() {
    "$CLIENT" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$1" -u "$DB_USER" \
        -p"$DB_PASSWORD" --connect-timeout=5 "${@:2}"
}

# 0 once the server that `pid` is answers on its own unix socket (by then it listens on TCP
# too); 1 when `pid` has exited (its port was taken by another process, say) or after the
# timeout. Asking on the TCP port instead could reach whoever else holds it. A ping succeeds
# even when access is denied: it only asks whether the server is up.
wait_ready() {
    local pid=$1 deadline=$((SECONDS + READY_TIMEOUT_S)) state
    while ((SECONDS < deadline)); do
        state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || true)
        [[ -z "$state" || "$state" == Z ]] && return 1
        if "$ADMIN" --no-defaults --socket="$DIR/run/mysqld.sock" --connect-timeout=5 \
            ping >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

cmd_start() {
    # The unix socket path (DIR/run/mysqld.sock) must fit in sockaddr_un.sun_path (108 bytes).
    ((${#DIR} <= 80)) || die "DIR path too long for a unix socket: $DIR"
    if [[ $(id -u) -eq 0 ]]; then
        chown mysql:mysql "$DIR"
        runuser -u mysql -- test -w "$DIR" ||
            die "user mysql cannot reach $DIR (check the permissions of its parents)"
    fi
    cd "$DIR"

    if [[ -n "$(server_pid)" ]]; then
        cmd_url
        return
    fi
    [[ -d "$DIR/data" ]] || init_server

    # A restarted server comes back on its previous port, so that clients (a host under test
    # across a database outage) can reconnect to the same URL.
    local attempt pid port="" previous_port=""
    if [[ -f "$DIR/url" ]]; then
        previous_port=$(sed -n 's|.*@127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$DIR/url")
    fi
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        if ((attempt == 1)) && [[ -n "$previous_port" ]]; then
            port=$previous_port
        else
            port=$(free_port)
        fi
        # Its own session, so that signals meant for the caller's process group (ctest's, on an
        # interrupted run) do not reach it; the owner stops it with `stop`.
        # shellcheck disable=SC2046
        setsid "$MARIADBD" --defaults-file="$DIR/my.cnf" $(server_user_option) --port="$port" \
            </dev/null >>"$DIR/mariadbd.out" 2>&1 &
        pid=$!
        # Another process may grab the port between probing and binding; then try another.
        if wait_ready "$pid"; then
            break
        fi
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        port=""
    done
    [[ -n "$port" ]] || {
        tail -n 20 "$DIR/mariadbd.log" >&2 || true
        die "mariadbd did not start after $START_ATTEMPTS attempts (log: $DIR/mariadbd.log)"
    }

    # The database may have been dropped by a test; it is the URL's.
    client "$port" -e "CREATE DATABASE IF NOT EXISTS $DB_NAME" ||
        die "could not create database $DB_NAME"

    local url="mysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$port/$DB_NAME"
    as_owner tee "$DIR/url" >/dev/null <<<"$url"
    echo "$url"
}

cmd_stop() {
    [[ -d "$DIR" ]] || return 0
    local pid
    pid=$(server_pid)
    [[ -n "$pid" ]] || return 0
    # SIGTERM is mariadbd's clean shutdown: InnoDB flushed, nothing to recover on the next start.
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! wait_gone "$pid" "$STOP_TIMEOUT_S"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || true
        die "mariadbd (pid $pid) did not shut down within ${STOP_TIMEOUT_S}s; killed it"
    fi
}

cmd_kill() {
    [[ -d "$DIR" ]] || return 0
    local pid
    pid=$(server_pid)
    [[ -n "$pid" ]] || return 0
    kill -KILL "$pid" 2>/dev/null || return 0
    wait_gone "$pid" 10 || die "mariadbd (pid $pid) still there 10s after SIGKILL"
}

cmd_url() {
    [[ -f "$DIR/url" ]] || die "no server started in $DIR"
    cat "$DIR/url"
}

(($# == 2)) || usage
DIR=$2
[[ "$1" != start ]] || mkdir -p "$DIR"
# mariadbd runs from inside DIR, so every path handed to it must be absolute.
if [[ -d "$DIR" ]]; then
    DIR=$(cd "$DIR" && pwd)
fi
find_tools

case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
kill) cmd_kill ;;
url) cmd_url ;;
*) usage ;;
esac
