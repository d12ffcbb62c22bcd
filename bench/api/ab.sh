#!/usr/bin/env bash
# Before and after for a change to nomnom-api: alternates two builds of it, each run on a fresh
# nats-server store (a stream that grows slows later runs down), so that the machine's drift
# falls on both alike. nomnom-api runs as run.sh's headline configuration (envelope, no status). Per run: requests/s with wrk at C connections, and per request the
# nomnom-api CPU time, futex calls and context switches (perf stat).
# Usage: bash bench/api/ab.sh BEFORE_BINARY AFTER_BINARY
#   ROUNDS=4 DURATION=5 CONNECTIONS=64 bash bench/api/ab.sh /tmp/old/build/api/nomnom-api build/api/nomnom-api
# Prints one line per run, then the medians per binary:
#   ab: before rps=... cpu_us_per_request=... futex_per_request=... switches_per_request=...
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-$CONNECTIONS}  # http.max_threads
if [[ $# -ne 2 ]]; then
    echo "usage: bash bench/api/ab.sh BEFORE_BINARY AFTER_BINARY" >&2
    exit 2
fi
declare -A binary=([before]=$1 [after]=$2)
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
for tool in "$1" "$2" "$NATS_SERVER" wrk perf; do
    command -v "$tool" >/dev/null || { echo "ab.sh: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/nomnom-bench-ab.XXXXXX)
nats_pid=""
api_pid=""
source "$ROOT/bench/api/helpers.sh"
cleanup() {
    stop_quietly "$api_pid" "$nats_pid"
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 "$ROOT/../shared/bench/gen_orders.py" 1 7 >"$WORK/order.json"
export NOMNOM_BENCH_PAYLOAD=$WORK/order.json NOMNOM_BENCH_THREADS=2
wrk_run() {
    wrk -t2 -c"$CONNECTIONS" -d"$1" -s "$ROOT/bench/api/post_message.lua" \
        "http://127.0.0.1:$api_port/ingest/message/bench"
}

for ((round = 1; round <= ROUNDS; round++)); do
    for which in before after; do
        rm -rf "$WORK/js"
        nats_port=$(free_port)
        "$NATS_SERVER" -js -sd "$WORK/js" -a 127.0.0.1 -p "$nats_port" >"$WORK/nats.log" 2>&1 &
        nats_pid=$!
        wait_port "$nats_port"
        api_port=$(free_port)
        cat >"$WORK/api.toml" <<TOML
[http]
listen = "127.0.0.1:$api_port"
max_threads = $THREADS
[nats]
url = "nats://127.0.0.1:$nats_port"
[stream]
name = "BENCH_AB"
subjects = ["bench.ab.>"]
[ingest]
subject = "bench.ab.{entity}"
[status]
enabled = false
[log]
level = "warn"
TOML
        "${binary[$which]}" --config "$WORK/api.toml" >"$WORK/api.log" 2>&1 &
        api_pid=$!
        wait_port "$api_port"
        wrk_run 2s >/dev/null  # warm-up: thread pool, stream, page cache
        perf stat -e syscalls:sys_enter_futex,context-switches -p "$api_pid" -o "$WORK/stat.txt" \
            -- sleep "$DURATION" &
        stat_pid=$!
        ticks_before=$(cpu_ticks "$api_pid")
        wrk_run "${DURATION}s" >"$WORK/wrk.txt"
        ticks_after=$(cpu_ticks "$api_pid")
        wait "$stat_pid"
        awk -v which="$which" -v round="$round" -v ticks=$((ticks_after - ticks_before)) \
            -v hz="$(getconf CLK_TCK)" '
            FILENAME ~ /wrk/ && /requests in/ { requests = $1 }
            FILENAME ~ /wrk/ && /Requests\/sec/ { rps = $2 }
            FILENAME ~ /stat/ && /sys_enter_futex/ { gsub(",", "", $1); futex = $1 }
            FILENAME ~ /stat/ && /context-switches/ { gsub(",", "", $1); switches = $1 }
            END { printf "%s %d rps=%.0f cpu_us_per_request=%.1f futex_per_request=%.2f switches_per_request=%.2f\n",
                         which, round, rps, ticks * 1e6 / hz / requests, futex / requests,
                         switches / requests }' "$WORK/wrk.txt" "$WORK/stat.txt" | tee -a "$WORK/runs.txt"
        kill "$api_pid"
        wait "$api_pid" || true
        api_pid=""
        kill "$nats_pid"
        wait "$nats_pid" || true
        nats_pid=""
    done
done

for which in before after; do
    python3 - "$WORK/runs.txt" "$which" <<'PY'
import statistics, sys
runs = [line.split() for line in open(sys.argv[1]) if line.startswith(sys.argv[2] + " ")]
fields = {}
for run in runs:
    for item in run[2:]:
        key, value = item.split("=")
        fields.setdefault(key, []).append(float(value))
print("ab: " + sys.argv[2] + " " + " ".join(
    f"{key}={statistics.median(values):g}" for key, values in fields.items()))
PY
done
