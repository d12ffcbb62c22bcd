#!/usr/bin/env bash
# The benchmark, one command: builds, then runs bench/bench.py (see its --help): the host draining
# N generated TPC-H orders into PostgreSQL beside the ceilings measured in the same run.
#   bash bench/run.sh                      # 200000 orders, 3 repetitions, medians (min-max)
#   bash bench/run.sh --database mariadb   # the same against a private MariaDB server
#   bash bench/run.sh --orders 50000 --repeat 5
#   bash bench/run.sh --latency --rate 2000 --seconds 30
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/deps.sh >/dev/null
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build build -j"$(nproc)" --target nomnom-host nomnom-publish nomnom-bench tpch; } \
    >"$build_log" 2>&1; then
    cat "$build_log" >&2
    exit 1
fi
python3 bench/bench.py "$@"
