#!/usr/bin/env bash
# nomnom-api throughput on loopback: wrk against POST /ingest/message, beside its two ceilings
# measured in the same run: the same HTTP server answering 202 without publishing
# (http_accept_server: what wrk and HTTP alone cost here) and the raw asynchronous JetStream
# publish of the same payload (jetstream_publish_bench --async, one connection as the API has),
# plus the raw synchronous publish for continuity, and the API's latency at a fixed RATE.
# Usage: bash bench/api/run.sh (after building into build/).
#   DURATION=10 CONNECTIONS="1 16 64" RATE=5000 THREADS=16 BUILD=build bash bench/api/run.sh
# THREADS is http.max_threads of nomnom-api and of the HTTP ceiling; 16 is nomnom-api's default
# (a message awaiting its PubAck holds no thread, so it need not grow with the connections).
# Each API configuration runs on a fresh stream so that earlier runs do not slow it down. The
# last line sums up the default configuration at the largest connection count:
#   bench-api: connections=C api_rps=... http_ceiling_rps=... async_publish_ceiling_msgs_s=...
#     ratio_vs_lesser_ceiling=... rate=RATE rate_achieved_rps=... p99_ms_at_rate=...
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
RATE=${RATE:-5000}
THREADS=${THREADS:-16}
API_BIN=$BUILD/api/nomnom-api
PUBLISH_BENCH=$BUILD/bench/jetstream_publish_bench
HTTP_CEILING=$BUILD/bench/http_accept_server
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
for tool in "$API_BIN" "$PUBLISH_BENCH" "$HTTP_CEILING" "$NATS_SERVER" wrk; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (build first; wrk: scripts/deps.sh)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/nomnom-bench-api.XXXXXX)
nats_pid=""
api_pid=""
server_pid=""
source "$ROOT/bench/api/helpers.sh"
cleanup() {
    stop_quietly "$api_pid" "$server_pid" "$nats_pid"
    rm -rf "$WORK"
}
trap cleanup EXIT

# One TPC-H-style order (the project's benchmark workload), about 1.3 KB.
python3 "$ROOT/../shared/bench/gen_orders.py" 1 7 >"$WORK/order.json"
export NOMNOM_BENCH_PAYLOAD=$WORK/order.json
echo "payload: $(wc -c <"$WORK/order.json") bytes; duration ${DURATION}s per run; $(nproc) cores"

NATS_PORT=$(free_port)
"$NATS_SERVER" -js -sd "$WORK/js" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
nats_pid=$!
wait_port "$NATS_PORT"
MAX_CONNECTIONS=$(tr ' ' '\n' <<<"$CONNECTIONS" | sort -n | tail -1)

# run_wrk C PORT [RATE]: wrk with C connections posting to PORT (at RATE requests/s when
# given); prints wrk's summary and keeps its full output in $WORK/wrk.txt.
run_wrk() {
    local c=$1 port=$2 rate=${3:-} threads=$((($1 < 2) ? 1 : 2)) script=post_message.lua
    local path=/ingest/message/bench
    [[ -n "$rate" ]] && script=post_message_at_rate.lua
    echo "\$ wrk -t$threads -c$c -d${DURATION}s --latency -s bench/api/$script http://127.0.0.1:PORT$path"
    NOMNOM_BENCH_RATE=$rate NOMNOM_BENCH_THREADS=$threads \
        wrk -t$threads -c"$c" -d"${DURATION}s" --latency -s "$ROOT/bench/api/$script" \
        "http://127.0.0.1:$port$path" >"$WORK/wrk.txt"
    grep -E "^ +(Latency|50%|99%) |Requests/sec|Non-2xx|Socket errors|requests in" "$WORK/wrk.txt"
}
requests_per_s() { awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt"; }
# wrk's 99th percentile in milliseconds
p99_ms() {
    awk '$1 == "99%" { v = $2; if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0;
                       else print v * 1000 }' "$WORK/wrk.txt"
}

# run_api NAME FORMAT STATUS: starts nomnom-api on stream NAME, runs wrk per connection count
# (and, for the default configuration, at RATE with the most connections).
declare -A api_rps
run_api() {
    local name=$1 format=$2 status=$3 api_port
    api_port=$(free_port)
    cat >"$WORK/api-$name.toml" <<TOML
[http]
listen = "127.0.0.1:$api_port"
max_threads = $THREADS
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
    wait_port "$api_port"
    for c in $CONNECTIONS; do
        echo
        echo "== nomnom-api format=$format status=$status, $c connection(s)"
        run_wrk "$c" "$api_port"
        api_rps[$name-$c]=$(requests_per_s)
    done
    if [[ "$name" == envelope ]]; then
        echo
        echo "== nomnom-api format=$format status=$status, $MAX_CONNECTIONS connection(s) at $RATE requests/s"
        run_wrk "$MAX_CONNECTIONS" "$api_port" "$RATE"
        rate_rps=$(requests_per_s)
        rate_p99=$(p99_ms)
    fi
    kill "$api_pid"
    wait "$api_pid" || true
    api_pid=""
}

run_api raw raw false
run_api envelope envelope false
run_api status envelope true

http_port=$(free_port)
"$HTTP_CEILING" "$http_port" "$THREADS" >"$WORK/http.log" 2>&1 &
server_pid=$!
wait_port "$http_port"
declare -A http_rps
for c in $CONNECTIONS; do
    echo
    echo "== ceiling: the same HTTP server answering 202 without publishing, $c connection(s)"
    run_wrk "$c" "$http_port"
    http_rps[$c]=$(requests_per_s)
done
kill "$server_pid"
wait "$server_pid" || true
server_pid=""

echo
echo "== ceiling: raw JetStream publish, async with 1024 PubAcks outstanding, 1 connection"
echo "\$ jetstream_publish_bench --async 1024 --connections 1 --seconds $DURATION --payload order.json"
"$PUBLISH_BENCH" --url "nats://127.0.0.1:$NATS_PORT" --subject bench.raw.async \
    --payload "$WORK/order.json" --connections 1 --seconds "$DURATION" --async 1024 |
    tee "$WORK/async.txt"
async_msgs=$(awk '/msgs\/s/ {print $1}' "$WORK/async.txt")

for c in $CONNECTIONS; do
    echo
    echo "== raw JetStream publish (sync PubAck, Nats-Msg-Id), $c connection(s)"
    echo "\$ jetstream_publish_bench --connections $c --seconds $DURATION --payload order.json"
    "$PUBLISH_BENCH" --url "nats://127.0.0.1:$NATS_PORT" --subject bench.raw.direct \
        --payload "$WORK/order.json" --connections "$c" --seconds "$DURATION"
done

api=${api_rps[envelope-$MAX_CONNECTIONS]}
http=${http_rps[$MAX_CONNECTIONS]}
echo
echo "bench-api: connections=$MAX_CONNECTIONS api_rps=$api http_ceiling_rps=$http" \
    "async_publish_ceiling_msgs_s=$async_msgs" \
    "ratio_vs_lesser_ceiling=$(awk -v a="$api" -v h="$http" -v p="$async_msgs" \
        'BEGIN { l = (h < p) ? h : p; printf "%.2f", a / l }')" \
    "rate=$RATE rate_achieved_rps=$rate_rps p99_ms_at_rate=$rate_p99"
