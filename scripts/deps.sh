#!/usr/bin/env bash
# Installs the Debian packages needed to build and test nomnom. This list is the
# single source of truth: the Dockerfile and tests/run.sh both call this script.
set -euo pipefail

PACKAGES=(
    build-essential
    cmake
    pkg-config
    clang-format
    clang
    libclang-rt-14-dev
    libnats-dev
    libpoco-dev
    libsoci-dev
    libboost-dev
    rapidjson-dev
    libspdlog-dev
    catch2
    libtomlplusplus-dev
    libyaml-cpp-dev
    libpq-dev
    libsqlite3-dev
    sqlite3
    nats-server
    postgresql
    python3
    curl
    wrk
    python3-yaml     # tests: the Kubernetes manifests parse
    docker-compose   # tests: `docker-compose config` validates docker/docker-compose.yml
    systemd          # tests: `systemd-analyze verify` checks the units in docker/systemd
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # A removed package can linger as "config-files"; only "installed" counts.
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "deps.sh: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "deps.sh: missing packages (${missing[*]}) and not root and no sudo available" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
