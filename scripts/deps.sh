#!/usr/bin/env bash
# Installs the Debian packages nomnom needs. These lists are the single source of truth:
# tests/run.sh and scripts/demo.sh run this script, and so do both stages of docker/Dockerfile.
#   deps.sh                    everything to build, test and run nomnom (both lists)
#   deps.sh --runtime          only the shared libraries the binaries and plugins load (the
#                              Docker runtime image)
#   deps.sh --list [--runtime] prints the package names instead of installing them
set -euo pipefail

# What the binaries and the shipped plugins load at run time (the deploy check compares this
# with their DT_NEEDED entries), plus the CA bundle for TLS to NATS and PostgreSQL. SOCI's MySQL
# backend and Connector/C are for nomnom-host's MariaDB/MySQL databases (issue 18).
RUNTIME_PACKAGES=(
    ca-certificates
    libfmt9
    libmariadb3
    libnats3.4
    libpocofoundation80
    libpoconet80
    libpq5
    libsoci-core4.0
    libsoci-mysql4.0
    libsoci-postgresql4.0
    libsoci-sqlite3-4.0
    libspdlog1.10
    libsqlite3-0
    libssl3
    libtomlplusplus3
    libyaml-cpp0.7
)

BUILD_PACKAGES=(
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
    libmariadb-dev   # Connector/C: the MariaDB/MySQL client of tests/support
    libsqlite3-dev
    sqlite3
    nats-server
    postgresql
    mariadb-server   # tests: scripts/mariadb-test-server.sh (mariadbd, mariadb-install-db)
    mariadb-client   #   and its mariadb and mariadb-admin
    python3
    curl
    wrk
    python3-yaml     # tests: the Kubernetes manifests parse
    python3-pytest   # tests: the Python package in python/, and `pip install ./python`
    python3-venv     #   into a virtual environment, built offline with Debian's
    python3-pip      #   setuptools and wheel
    python3-setuptools
    python3-wheel
    docker-compose   # tests: `docker-compose config` validates docker/docker-compose.yml
    systemd          # tests: `systemd-analyze verify` checks the units in docker/systemd
    chromium         # tests: the dashboard in a real browser (tests/browser), headless,
    chromium-driver  #   driven by Selenium
    python3-selenium
)

runtime_only=0
list_only=0
for argument in "$@"; do
    case "$argument" in
        --runtime) runtime_only=1 ;;
        --list) list_only=1 ;;
        *)
            echo "deps.sh: unknown argument '$argument' (expected --runtime and/or --list)" >&2
            exit 2
            ;;
    esac
done
PACKAGES=("${RUNTIME_PACKAGES[@]}")
((runtime_only)) || PACKAGES+=("${BUILD_PACKAGES[@]}")
if ((list_only)); then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi

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
