#!/usr/bin/env bash
# `make -C bench io-perf`: where the echo servers' CPU goes under load.
# For spindle-echo (1 worker) and then c-echo-server, each pinned to SERVER_CPU: echo-client
# (64 connections × 64 B unless told otherwise, pinned to CLIENT_CPU) warms up for 1 s and then
# runs 8 s, during which `perf record -g` samples the server (software cpu-clock sampling, so it
# works where hardware counters are not supported, as in this VM) and `perf stat` counts its
# io_uring_enter calls and io_uring completions (tracepoints). Writes, for NAME in spindle and c:
#   OUT/io-perf-NAME.data      the samples (perf report -i ...)
#   OUT/io-perf-NAME.txt       round trips, io_uring_enter calls and completions per round trip,
#                              share per binary (kernel, spindle-echo, libswiftCore, ...), then
#                              self time per function
#
#   perf.sh IO_DIR SERVER_CPU CLIENT_CPU PORT OUT [CONNECTIONS [SIZE]]
set -euo pipefail
dir=$1 server_cpu=$2 client_cpu=$3 port=$4 out=$5 connections=${6:-64} size=${7:-64}
command -v perf >/dev/null || { echo "io-perf: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
source "$(dirname "$0")/../lib/pinned-server.sh"

profile() {  # NAME COMMAND...
    local name=$1; shift
    start_server "$server_cpu" "$port" "$@"
    # 1 s warm-up, then 8 s measured by the client (round trips, server CPU) while perf records
    # and counts io_uring_enter calls and completions over the same 8 s.
    taskset -c "$client_cpu" "$dir/echo-client" "$port" "$connections" "$size" 8 1 "$server" >"$out/io-perf-$name.trips" &
    local client=$!
    sleep 1
    perf stat -x, -e syscalls:sys_enter_io_uring_enter,io_uring:io_uring_complete -p "$server" \
        -o "$out/io-perf-$name.stat" -- sleep 8 &
    local stat=$!
    rm -f "$out/io-perf-$name.data"
    perf record -q -g -e cpu-clock -F 4999 -p "$server" -o "$out/io-perf-$name.data" -- sleep 8
    wait "$client" "$stat"
    stop_server
    {
        local trips seconds cpu enters cqes
        read -r trips seconds cpu _ <"$out/io-perf-$name.trips"
        enters=$(grep io_uring_enter "$out/io-perf-$name.stat" | cut -d, -f1)
        cqes=$(grep io_uring_complete "$out/io-perf-$name.stat" | cut -d, -f1)
        echo "# $name, $connections conn × $size B, under perf: $trips round trips in $seconds s, server CPU $cpu s;" \
             "per round trip: $(awk -v e="$enters" -v t="$trips" 'BEGIN { printf "%.3f", e / t }') io_uring_enter," \
             "$(awk -v c="$cqes" -v t="$trips" 'BEGIN { printf "%.2f", c / t }') completions"
        echo "# share per binary"
        perf report -i "$out/io-perf-$name.data" --no-children --stdio --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
        echo "# self time per function (>= 0.3 %)"
        perf report -i "$out/io-perf-$name.data" --no-children --stdio -F overhead,dso,sym --percent-limit 0.3 -g none \
            2>/dev/null | grep -v '^#' | grep -v '^$'
    } >"$out/io-perf-$name.txt"
    rm -f "$out/io-perf-$name.trips" "$out/io-perf-$name.stat"
    echo "io-perf: wrote $out/io-perf-$name.data and $out/io-perf-$name.txt"
}

profile spindle "$dir/spindle-echo" --port "$port" --workers 1
profile c "$dir/c-echo-server" "$port"
for name in spindle c; do echo; head -25 "$out/io-perf-$name.txt"; done
