#!/usr/bin/env bash
# The main job end to end on the embedded defaults: installs what is missing, builds (which
# generates the tpch plugin from plugins/tpch/entities/*.yaml with nomnom-gen), starts a private
# nats-server (JetStream, temporary store), nomnom-host with the tpch plugin on SQLite and
# nomnom-api; loads the reference data and posts the sample orders over HTTP, then shows each
# order's status, the dead-lettered order and the rows. The host also publishes the line items
# (entity outputs), which a second nomnom-host stores with the entity_archive plugin. Everything
# it starts is stopped on exit; the work directory is kept for a look afterwards.
#   demo.sh                      the tpch rows in SQLite (the embedded default)
#   demo.sh --database mariadb   in a private MariaDB server started for the demo
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DATABASE=sqlite
if (($# > 0)); then
    [[ $# -eq 2 && "$1" == --database && ("$2" == sqlite || "$2" == mariadb) ]] || {
        echo "usage: $0 [--database sqlite|mariadb]" >&2
        exit 2
    }
    DATABASE=$2
fi

bash scripts/deps.sh
bash scripts/build.sh build

echo "== nomnom-gen: the tpch plugin is generated from the original nomnom's entity YAML"
build/generator/nomnom-gen check --entities plugins/tpch/entities 2>/dev/null
echo "   source and DDL: build/plugins/tpch/tpch-generated/ (tpch_plugin.cpp, sql/*.sql)"

WORK=$(mktemp -d /tmp/nomnom-demo.XXXXXX)
chmod 0755 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATS_PORT=$(free_port)
NATS_URL="nats://127.0.0.1:$NATS_PORT"
API_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ "$DATABASE" == mariadb ]]; then bash scripts/mariadb-test-server.sh stop "$WORK/mariadb"; fi
}
trap stop_all EXIT

"$(command -v nats-server || echo /usr/sbin/nats-server)" -js -a 127.0.0.1 -p "$NATS_PORT" \
    -sd "$WORK/jetstream" >"$WORK/nats.log" 2>&1 &
pids+=($!)

install -d -m 0755 "$WORK/plugins"
install -m 0755 build/plugins/tpch.so "$WORK/plugins/"
# The API publishes the original nomnom's envelope; the host unwraps it and records each
# message's outcome for GET /ingest/status.
DB_URL="sqlite:nomnom.db"
if [[ "$DATABASE" == mariadb ]]; then
    DB_URL=$(bash scripts/mariadb-test-server.sh start "$WORK/mariadb" | tail -n 1)
    DB_PORT=$(sed -n 's|.*@127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$DB_URL")
fi
# sql QUERY: the rows of a query on the host's database, as a table.
sql() {
    if [[ "$DATABASE" == mariadb ]]; then
        mariadb -h 127.0.0.1 -P "$DB_PORT" -u nomnom -pnomnom nomnom_test -t -e "$1"
    else
        sqlite3 -header -column "$WORK/nomnom.db" "$1"
    fi
    echo
}
# stored_count TABLE: its rows on the host's database, 0 before it exists.
stored_count() {
    if [[ "$DATABASE" == mariadb ]]; then
        mariadb -h 127.0.0.1 -P "$DB_PORT" -u nomnom -pnomnom nomnom_test -N -e \
            "SELECT count(*) FROM $1" 2>/dev/null || echo 0
    else
        sqlite3 "$WORK/nomnom.db" "SELECT count(*) FROM $1" 2>/dev/null || echo 0
    fi
}
cat >"$WORK/worker.toml" <<TOML
[nats]
url = "$NATS_URL"
[consumer]
format = "envelope"
[database]
url = "$DB_URL"
[plugins]
dir = "plugins"
[status]
enabled = true
[http]
listen = "127.0.0.1:0"
# Stored and published to entities.order_line_items, for the archive host below.
[plugins.tpch.outputs]
order_line_items = "both"
TOML
# A second host downstream: it reads what the first publishes.
install -d -m 0755 "$WORK/archive" "$WORK/archive/plugins"
install -m 0755 build/plugins/entity_archive/entity_archive.so "$WORK/archive/plugins/"
cat >"$WORK/archive/worker.toml" <<TOML
[nats]
url = "$NATS_URL"
[stream]
name = "NOMNOM_ENTITIES"
subjects = ["entities.>"]
create = false
[database]
url = "sqlite:archive.db"
[http]
listen = "127.0.0.1:0"
TOML
cat >"$WORK/api.toml" <<TOML
[http]
listen = "127.0.0.1:$API_PORT"
[nats]
url = "$NATS_URL"
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
host_pid=$!
pids=("$host_pid" "${pids[@]}")
wait_for 30 grep -q "startup summary" "$WORK/host.log" || { cat "$WORK/host.log" >&2; exit 1; }
build/api/nomnom-api --config "$WORK/api.toml" >"$WORK/api.log" 2>&1 &
pids=("$!" "${pids[@]}")
wait_for 30 curl -sf "$API/ready" >/dev/null || { cat "$WORK/api.log" >&2; exit 1; }

post() { # post ENTITY IDEMPOTENCY_KEY FILE|-: prints the command and the answer
    echo "\$ curl -X POST $API/ingest/message/$1 -H 'Idempotency-Key: $2' --data-binary @..."
    curl -s -X POST "$API/ingest/message/$1" -H "Idempotency-Key: $2" --data-binary "@$3"
    echo
}
echo
echo "== reference data: one message each, a JSON array of rows"
post Customer customers-v1 plugins/tpch/example_customers.json
post Product products-v1 plugins/tpch/example_products.json
echo
echo "== the sample orders, one POST each (the third has \"quantity\": \"five\"), and a client"
echo "   retry of the first with the same Idempotency-Key: stored once, same message_id"
orders=()
while IFS= read -r order; do
    key=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["order_key"])' "$order")
    orders+=("$key")
    post Order "$key" - <<<"$order"
done <plugins/tpch/sample_orders.ndjson
post Order "${orders[0]}" - < <(head -n 1 plugins/tpch/sample_orders.ndjson)

status_is() { curl -s "$API/ingest/status/$1" | grep -q "\"status\":\"$2\""; }
wait_for 30 status_is "${orders[0]}" persisted
wait_for 30 status_is "${orders[2]}" failed
echo
echo "== GET /ingest/status/{message_id}"
for id in customers-v1 "${orders[@]}"; do
    echo "\$ curl $API/ingest/status/$id"
    curl -s "$API/ingest/status/$id"
    echo
done

echo
echo "== the line items the host published, stored by a second host (entity_archive)"
build/host/nomnom-host --config "$WORK/archive/worker.toml" >"$WORK/archive/host.log" 2>&1 &
archive_pid=$!
pids=("$archive_pid" "${pids[@]}")
archived() {
    [[ $(sqlite3 "$WORK/archive/archive.db" "SELECT count(*) FROM entity_archive" 2>/dev/null ||
        echo 0) -ge $(stored_count order_line_items) ]]
}
wait_for 30 archived || { cat "$WORK/archive/host.log" >&2; exit 1; }
sqlite3 -header -column "$WORK/archive/archive.db" \
    "SELECT msg_id, subject, source_seq, row FROM entity_archive ORDER BY 1"
kill -TERM "$archive_pid"
wait "$archive_pid"
pids=("${pids[@]/$archive_pid/}")

kill -TERM "$host_pid"
wait "$host_pid"
pids=("${pids[@]/$host_pid/}")
echo
echo "== nomnom-host log ($WORK/host.log)"
cat "$WORK/host.log"
echo
echo "== dead-letter queue (nomnom-host dlq list)"
build/host/nomnom-host dlq list --config "$WORK/worker.toml"
echo
echo "== rows in $([[ "$DATABASE" == mariadb ]] && echo "$DB_URL" || echo "$WORK/nomnom.db")"
sql "SELECT customer_key, name, market_segment, account_balance FROM customers ORDER BY 1"
sql "SELECT part_key, name, retail_price FROM products ORDER BY 1"
sql "SELECT order_key, customer_key, order_status, total_price, order_date FROM orders ORDER BY 1"
sql "SELECT order_key, line_number, part_key, quantity, extended_price, discount, receipt_date
     FROM order_line_items ORDER BY 1, 2"
