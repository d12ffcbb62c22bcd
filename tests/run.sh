#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run): installs the Debian dependencies,
# builds into build/, starts a throwaway PostgreSQL cluster and runs ctest against it; then the
# same suite again built with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/
# (unload and reload paths are where use-after-free hides), and its integration tests a third
# time there with plugins in the host's process (isolation = "thread"; the other passes run them
# in worker processes). NOMNOM_SKIP_SANITIZERS=1 skips the sanitizer passes.
# Extra arguments go to ctest, e.g. `tests/run.sh -R e2e`.
# CMAKE_BUILD_TYPE (default RelWithDebInfo) and NOMNOM_CMAKE_ARGS tune the configure step
# (scripts/build.sh, the build command the demo and the Dockerfile use too).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/deps.sh

bash scripts/build.sh build
if [[ "${NOMNOM_SKIP_SANITIZERS:-0}" != 1 ]]; then
    CMAKE_BUILD_TYPE=Debug bash scripts/build.sh build-asan -DNOMNOM_SANITIZE=ON
fi

# Under /tmp rather than $TMPDIR: the postgres OS user must reach it, and the unix socket path
# inside it has to stay short.
PG_DIR=$(mktemp -d /tmp/nomnom-pg.XXXXXX)
ctest_pid=""
cleanup() {
    bash scripts/pg-test-cluster.sh stop "$PG_DIR" || true
    rm -rf "$PG_DIR"
}
# ctest ignores SIGTERM while tests run, so the whole ctest process group gets it, and SIGKILL
# for whatever is left after 10 s.
stop_ctest() {
    [[ -n "$ctest_pid" ]] || return 0
    kill -TERM -- "-$ctest_pid" 2>/dev/null || return 0
    local state
    for ((i = 0; i < 50; i++)); do
        state=$(cut -d' ' -f3 "/proc/$ctest_pid/stat" 2>/dev/null || true)
        [[ -z "$state" || "$state" == Z ]] && break
        sleep 0.2
    done
    kill -KILL -- "-$ctest_pid" 2>/dev/null || true
    wait "$ctest_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'stop_ctest; exit 130' INT
trap 'stop_ctest; exit 143' TERM

NOMNOM_TEST_PG_URL=$(bash scripts/pg-test-cluster.sh start "$PG_DIR")
export NOMNOM_TEST_PG_URL
echo "run.sh: PostgreSQL test cluster at $NOMNOM_TEST_PG_URL"

# In the background because bash runs traps only after a foreground child exits; in its own
# process group (set -m) so that stop_ctest reaches the tests and their servers too.
run_ctest() {
    set -m
    ctest --test-dir "$1" --output-on-failure -j2 --timeout 600 "${@:2}" </dev/null &
    ctest_pid=$!
    set +m
    local status=0
    wait "$ctest_pid" || status=$?
    ctest_pid=""
    return "$status"
}

status=0
run_ctest build "$@" || status=$?
if [[ "${NOMNOM_SKIP_SANITIZERS:-0}" != 1 ]]; then
    echo "run.sh: the same suite under AddressSanitizer + UndefinedBehaviorSanitizer"
    # A sanitizer finding aborts the process, so a host under test exits non-zero and the
    # test that runs it fails.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    run_ctest build-asan "$@" || status=$?
    # The integration suite runs plugins in worker processes (isolation = "process", the
    # default); here every test that does not choose a mode runs them in the host's own process.
    echo "run.sh: the integration tests again under the sanitizers with isolation = \"thread\""
    NOMNOM_TEST_ISOLATION=thread run_ctest build-asan -R "^integration:" "$@" || status=$?
fi
exit "$status"
