#!/usr/bin/env bash
# nomnom-api throughput on loopback: wrk against POST /ingest/message, beside the raw JetStream
# publish rate (synchronous PubAck per message) of the same payload, in the same run against the
# same private nats-server. Usage: bash bench/api/run.sh (after building into build/).
#   DURATION=10 CONNECTIONS="1 16" BUILD=build bash bench/api/run.sh
# Each API configuration runs on a fresh stream so that earlier runs do not slow it down.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"1 16"}
API_BIN=$BUILD/api/nomnom-api
PUBLISH_BENCH=$BUILD/bench/jetstream_publish_bench
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
for tool in "$API_BIN" "$PUBLISH_BENCH" "$NATS_SERVER" wrk; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (build first; wrk: scripts/deps.sh)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/nomnom-bench-api.XXXXXX)
nats_pid=""
api_pid=""
cleanup() {
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
    [[ -n "$nats_pid" ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# One TPC-H-style order (the project's benchmark workload), about 1.3 KB.
python3 "$ROOT/../shared/bench/gen_orders.py" 1 7 >"$WORK/order.json"
export NOMNOM_BENCH_PAYLOAD=$WORK/order.json
echo "payload: $(wc -c <"$WORK/order.json") bytes; duration ${DURATION}s per run; $(nproc) cores"

NATS_PORT=$(free_port)
"$NATS_SERVER" -js -sd "$WORK/js" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
nats_pid=$!
for ((i = 0; i < 100; i++)); do
    (echo >"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break
    sleep 0.1
done

# run_api NAME FORMAT STATUS: starts nomnom-api on stream NAME, runs wrk per connection count.
run_api() {
    local name=$1 format=$2 status=$3 api_port
    api_port=$(free_port)
    cat >"$WORK/api-$name.toml" <<TOML
[http]
listen = "127.0.0.1:$api_port"
max_threads = 64
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[stream]
name = "BENCH_$name"
subjects = ["bench.$name.>"]
[ingest]
subject = "bench.$name.{entity}"
format = "$format"
[status]
enabled = $status
bucket = "BENCH_STATUS_$name"
[log]
level = "warn"
TOML
    "$API_BIN" --config "$WORK/api-$name.toml" >"$WORK/api-$name.log" 2>&1 &
    api_pid=$!
    for ((i = 0; i < 100; i++)); do
        (echo >"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null && break
        sleep 0.1
    done
    for c in $CONNECTIONS; do
        echo
        echo "== nomnom-api format=$format status=$status, $c connection(s)"
        echo "\$ wrk -t$(((c < 2) ? 1 : 2)) -c$c -d${DURATION}s --latency -s bench/api/post_message.lua http://127.0.0.1:PORT/ingest/message/bench"
        wrk -t$(((c < 2) ? 1 : 2)) -c"$c" -d"${DURATION}s" --latency \
            -s "$ROOT/bench/api/post_message.lua" "http://127.0.0.1:$api_port/ingest/message/bench" |
            grep -E "^ +(Latency|50%|99%) |Requests/sec|Non-2xx|Socket errors|requests in"
    done
    kill "$api_pid"
    wait "$api_pid" || true
    api_pid=""
}

run_api raw raw false
run_api envelope envelope false
run_api status envelope true

for c in $CONNECTIONS; do
    echo
    echo "== raw JetStream publish (sync PubAck, Nats-Msg-Id), $c connection(s)"
    echo "\$ jetstream_publish_bench --connections $c --seconds $DURATION --payload order.json"
    "$PUBLISH_BENCH" --url "nats://127.0.0.1:$NATS_PORT" --subject bench.raw.direct \
        --payload "$WORK/order.json" --connections "$c" --seconds "$DURATION"
done
