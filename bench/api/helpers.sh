# Sourced by the API benchmarks: loopback ports and the processes they start.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Waits (at most 10 s) until something listens on port $1.
wait_port() {
    for ((i = 0; i < 100; i++)); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}
# User + system clock ticks of every thread of process $1.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# For an exit trap: stops each process given (empty arguments are skipped), whether or not it
# is still running.
stop_quietly() {
    for pid in "$@"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
}
