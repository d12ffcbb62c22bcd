#!/usr/bin/env bash
# Usage: run_fuzz.sh FUZZER TPCH_DIR SECONDS [CORPUS_DIR]
# Seeds a corpus from TPCH_DIR's example_*.json and sample_orders.ndjson lines (the first byte
# picks the subject: 0 Order, 1 Customer, 2 Product), fuzzes for SECONDS, then runs every file of
# regressions/ once. Without CORPUS_DIR the corpus is a fresh temporary directory. Exits non-zero
# on any finding; libFuzzer writes the input that caused it to ./crash-<sha1> (or leak-, oom-...).
set -euo pipefail

fuzzer=$1
tpch=$2
seconds=$3
regressions=$(cd "$(dirname "$0")" && pwd)/regressions

if (($# > 3)); then
    corpus=$4
    mkdir -p "$corpus"
else
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
fi

seed() { # seed NAME SELECTOR <payload
    { printf '%s' "$2" && cat; } >"$corpus/seed-$1"
}
seed order 0 <"$tpch/example_order.json"
seed customers 1 <"$tpch/example_customers.json"
seed products 2 <"$tpch/example_products.json"
line=0
while IFS= read -r json; do
    line=$((line + 1))
    printf '%s' "$json" | seed "sample-order-$line" 0
done <"$tpch/sample_orders.ndjson"

"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -print_final_stats=1 "$corpus"
"$fuzzer" -rss_limit_mb=1024 "$regressions"/*
