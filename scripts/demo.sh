#!/usr/bin/env bash
# The main job end to end on the embedded defaults: installs what is missing, builds (which
# generates the tpch plugin from plugins/tpch/entities/*.yaml with nomnom-gen), starts a private
# nats-server (JetStream, temporary store), runs nomnom-host with the shipped plugins on SQLite,
# loads the reference data, publishes the sample orders and prints the rows and the
# dead-lettered order.
# Everything it starts is stopped on exit; the work directory is kept for a look afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/deps.sh
bash scripts/build.sh build

WORK=$(mktemp -d /tmp/nomnom-demo.XXXXXX)
chmod 0755 "$WORK"
NATS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NATS_URL="nats://127.0.0.1:$NATS_PORT"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/jetstream" >"$WORK/nats.log" 2>&1 &
pids+=($!)

install -d -m 0755 "$WORK/plugins"
install -m 0755 build/plugins/*.so "$WORK/plugins/"
cat >"$WORK/worker.toml" <<TOML
[nats]
url = "$NATS_URL"

[stream]
name = "DEMO"
subjects = ["messages.ingest.>", "sensors.>"]

[database]
url = "sqlite:nomnom.db"

[plugins]
dir = "plugins"

[http]
listen = "127.0.0.1:0"
TOML

build/host/nomnom-host --config "$WORK/worker.toml" >"$WORK/host.log" 2>&1 &
host_pid=$!
pids=("$host_pid" "${pids[@]}")

wait_for() { # wait_for SECONDS COMMAND...: polls every 0.2 s
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
if ! wait_for 30 grep -q "startup summary" "$WORK/host.log"; then
    echo "demo: nomnom-host did not start; its log:" >&2
    cat "$WORK/host.log" >&2
    exit 1
fi

publish() { build/host/nomnom-publish --url "$NATS_URL" "$@"; }
# Reference data: one message holding the whole list of customers / products.
publish --subject messages.ingest.Customer --whole plugins/tpch/example_customers.json
publish --subject messages.ingest.Product --whole plugins/tpch/example_products.json
# One order per line; the third has a quantity "five" and is dead-lettered with the reason.
publish --subject messages.ingest.Order plugins/tpch/sample_orders.ndjson

count_rows() { sqlite3 "$WORK/nomnom.db" "SELECT count(*) FROM $1" 2>/dev/null; }
wait_for 30 test "$(count_rows order_line_items)" = 3
wait_for 10 grep -q "dead-lettered" "$WORK/host.log"

kill -TERM "$host_pid"
wait "$host_pid"
pids=("${pids[@]:1}")

echo
echo "== nomnom-host log ($WORK/host.log)"
cat "$WORK/host.log"
echo
echo "== dead-letter queue (nomnom-host dlq list)"
build/host/nomnom-host dlq list --config "$WORK/worker.toml"
echo
echo "== rows in $WORK/nomnom.db"
sql() { sqlite3 -header -column "$WORK/nomnom.db" "$1"; echo; }
sql "SELECT customer_key, name, market_segment, account_balance FROM customers ORDER BY 1"
sql "SELECT part_key, name, retail_price FROM products ORDER BY 1"
sql "SELECT order_key, customer_key, order_status, total_price, order_date FROM orders ORDER BY 1"
sql "SELECT order_key, line_number, part_key, quantity, extended_price, discount, receipt_date
     FROM order_line_items ORDER BY 1, 2"
