#!/usr/bin/env bash
# What status recording ([status] enabled in worker.toml) costs nomnom-host: the same N messages,
# ingested through nomnom-api once per mode (entity "false" and "true": a subject each, since a
# host finds its consumer by subject and would go on where the other mode's stopped), are
# drained by a fresh host (fresh SQLite file): with the recorder off, then on. Prints
# messages/s for both.
#   N=50000 BUILD=build bash bench/api/host_status_overhead.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${N:-50000}
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
WORK=$(mktemp -d /tmp/nomnom-bench-status.XXXXXX)
pids=()
source "$ROOT/bench/api/helpers.sh"
cleanup() {
    stop_quietly "${pids[@]}"
    rm -rf "$WORK"
}
trap cleanup EXIT

NATS_PORT=$(free_port)
"$NATS_SERVER" -js -sd "$WORK/js" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
nats_pid=$!
pids+=("$nats_pid")
wait_port "$NATS_PORT"

API_PORT=$(free_port)
cat >"$WORK/api.toml" <<TOML
[http]
listen = "127.0.0.1:$API_PORT"
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[ingest]
format = "raw"
max_body_bytes = 104857600
[status]
record_accepted = false
TOML
"$BUILD/api/nomnom-api" --config "$WORK/api.toml" >"$WORK/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_port "$API_PORT"
python3 - "$N" "$WORK/batch" <<'PY'
import sys
n, prefix = int(sys.argv[1]), sys.argv[2]
for mode in ("false", "true"):
    for part in range(0, n, 10000):
        with open("%s.%s.%06d" % (prefix, mode, part), "w") as out:
            for i in range(part, min(n, part + 10000)):
                out.write('{"entity_type":"%s","k":"key-%d","v":%d}\n' % (mode, i, i))
PY
for file in "$WORK"/batch.*; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$file" \
        "http://127.0.0.1:$API_PORT/ingest/batch")
    [[ "$code" == 202 ]] || { echo "batch $file answered $code" >&2; exit 1; }
done
kill "$api_pid"
wait "$api_pid" || true
echo "$N messages per mode ingested through nomnom-api"

mkdir -m 0755 "$WORK/plugins"
install -m 0755 "$BUILD/tests/plugins/test_kv.so" "$WORK/plugins/test_kv.so"

# drain MODE: runs a host with [status] enabled = MODE until it persisted N messages.
drain() {
    local mode=$1 http_port started persisted=0
    http_port=$(free_port)
    cat >"$WORK/worker-$mode.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[database]
url = "sqlite:$WORK/$mode.db"
[plugins]
dir = "$WORK/plugins"
[plugins.test_kv]
subjects = ["messages.ingest.$mode"]
durable = "bench-$mode"
batch_size = 500
[status]
enabled = $mode
[http]
listen = "127.0.0.1:$http_port"
TOML
    local nats_before
    nats_before=$(cpu_ticks "$nats_pid")
    started=$(date +%s.%N)
    "$BUILD/host/nomnom-host" --config "$WORK/worker-$mode.toml" >"$WORK/host-$mode.log" 2>&1 &
    local host_pid=$!
    pids+=("$host_pid")
    for ((i = 0; i < 6000 && persisted < N; i++)); do
        sleep 0.05
        persisted=$(curl -s "http://127.0.0.1:$http_port/metrics" |
            awk '/^nomnom_messages_persisted_total/ {print $2}')
        persisted=${persisted:-0}
    done
    local elapsed host_cpu nats_cpu ticks
    elapsed=$(echo "$(date +%s.%N) - $started" | bc)
    ticks=$(getconf CLK_TCK)
    host_cpu=$(echo "scale=2; $(cpu_ticks "$host_pid") / $ticks" | bc)
    nats_cpu=$(echo "scale=2; ($(cpu_ticks "$nats_pid") - $nats_before) / $ticks" | bc)
    echo "status recording $mode: $persisted messages persisted in ${elapsed}s" \
        "($(echo "$persisted / $elapsed" | bc) msgs/s, host start included);" \
        "CPU: host ${host_cpu}s, nats-server ${nats_cpu}s"
    curl -s "http://127.0.0.1:$http_port/metrics" | grep '^nomnom_status_' || true
    kill "$host_pid"
    wait "$host_pid" || true
}
drain false
drain true
