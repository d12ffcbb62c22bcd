#!/usr/bin/env bash
# Usage: check_install.sh PYTHON BUILD_DIR
# `pip install ./python` into a fresh virtual environment, then a parse through the installed
# package, from outside the source tree. --no-build-isolation: the build backend comes from
# Debian's python3-setuptools and python3-wheel instead of the network.
set -euo pipefail
python=$1
build=$2
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv --system-site-packages "$work/venv"
# A copy, so that the build leaves nothing in the checkout.
cp -r "$source_dir" "$work/python"
"$work/venv/bin/pip" install --quiet --no-build-isolation --no-deps --no-index "$work/python"
cd "$work"
"$work/venv/bin/python" - "$build/plugins/sensor_csv.so" <<'PY'
import sys
import nomnom
assert "/venv/" in nomnom.__file__, nomnom.__file__
with nomnom.Plugin(sys.argv[1]) as plugin:
    rows = plugin.parse("dev-a,1,2.5,")
assert rows == {"readings": [{"device_id": "dev-a", "ts": 1, "temperature": 2.5,
                              "humidity": None}]}, rows
print("installed", nomnom.__file__, "and parsed", rows)
PY
