# Sourced by the perf scripts (bench/io/perf.sh, bench/http/perf.sh): starts one server at a
# time pinned to a CPU on 127.0.0.1, and stops it. Sets `server` to the running server's PID
# ("" when none), and kills it when the sourcing script exits.
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM HUP

# start_server CPU PORT COMMAND...: waits (≤ 10 s) until nothing answers on PORT — the previous
# server's port can stay open for a moment after it exits (io_uring tears its ring down
# asynchronously, and a multishot accept holds the listener until then) —, starts COMMAND pinned
# to CPU with its stdout discarded, and waits (≤ 10 s) until it accepts on PORT.
start_server() {
    local cpu=$1 port=$2; shift 2
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null || break; sleep 0.2; done
    taskset -c "$cpu" "$@" >/dev/null &
    server=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
}

# stop_server: stops the server start_server started.
stop_server() {
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
}
