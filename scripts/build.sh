#!/usr/bin/env bash
# The one build command, shared by tests/run.sh, scripts/demo.sh and docker/Dockerfile:
# configures and builds into BUILD_DIR (default build/).
#   scripts/build.sh [BUILD_DIR [CMAKE_ARGS...]]
# CMAKE_BUILD_TYPE (default RelWithDebInfo) and NOMNOM_CMAKE_ARGS (split on spaces) tune the
# configure step; NOMNOM_BUILD_JOBS (default: every core) the build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

build_dir=${1:-build}
(($# > 0)) && shift
read -r -a extra_cmake_args <<<"${NOMNOM_CMAKE_ARGS:-}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    "$@" "${extra_cmake_args[@]}"
cmake --build "$build_dir" -j"${NOMNOM_BUILD_JOBS:-$(nproc)}"
