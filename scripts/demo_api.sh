#!/usr/bin/env bash
# HTTP -> nomnom-api -> JetStream -> nomnom-host -> SQLite, then GET /ingest/status/{id}.
# Builds, starts a private nats-server, a host (with the test_kv plugin of the test suite,
# which stores {"k": text, "v": integer} objects, and status recording on) and nomnom-api, posts
# one good and one bad message with curl and shows their statuses and the rows. Everything it
# starts is stopped on exit; the work directory is kept for a look afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target nomnom-host nomnom-api test_kv

WORK=$(mktemp -d /tmp/nomnom-demo-api.XXXXXX)
chmod 0755 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATS_PORT=$(free_port)
API_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

"$(command -v nats-server || echo /usr/sbin/nats-server)" -js -a 127.0.0.1 -p "$NATS_PORT" \
    -sd "$WORK/jetstream" >"$WORK/nats.log" 2>&1 &
pids+=($!)

install -d -m 0755 "$WORK/plugins"
install -m 0755 build/tests/plugins/test_kv.so "$WORK/plugins/"
cat >"$WORK/worker.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[database]
url = "sqlite:nomnom.db"
[plugins]
dir = "plugins"
[plugins.test_kv]
subjects = ["messages.ingest.kv"]
format = "envelope"
max_deliver = 2
[status]
enabled = true
[http]
listen = "127.0.0.1:0"
TOML
cat >"$WORK/api.toml" <<TOML
[http]
listen = "127.0.0.1:$API_PORT"
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
TOML

wait_for() { # wait_for SECONDS COMMAND...: polls every 0.2 s
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
build/host/nomnom-host --config "$WORK/worker.toml" >"$WORK/host.log" 2>&1 &
pids=("$!" "${pids[@]}")
wait_for 30 grep -q "startup summary" "$WORK/host.log" || { cat "$WORK/host.log" >&2; exit 1; }
build/api/nomnom-api --config "$WORK/api.toml" >"$WORK/api.log" 2>&1 &
pids=("$!" "${pids[@]}")
wait_for 30 curl -sf "$API/ready" >/dev/null || { cat "$WORK/api.log" >&2; exit 1; }

post() { # post IDEMPOTENCY_KEY BODY
    echo "\$ curl -X POST $API/ingest/message/kv -H 'Idempotency-Key: $1' -d '$2'"
    curl -s -X POST "$API/ingest/message/kv" -H "Idempotency-Key: $1" -d "$2"
    echo
}
echo "== a message, the same again (a client retry: stored once), and one test_kv refuses"
post demo-1 '{"k":"answer","v":42}'
post demo-1 '{"k":"answer","v":42}'
post demo-2 '{"k":"no value"}'
status_is() { curl -s "$API/ingest/status/$1" | grep -q "\"status\":\"$2\""; }
wait_for 30 status_is demo-1 persisted
wait_for 30 status_is demo-2 failed
for id in demo-1 demo-2; do
    echo "\$ curl $API/ingest/status/$id"
    curl -s "$API/ingest/status/$id"
    echo
done
echo "== rows in $WORK/nomnom.db"
sqlite3 -header -column "$WORK/nomnom.db" "SELECT k, v FROM kv"
