#!/usr/bin/env bash
# `make -C bench http-perf`: where Spindle's CPU goes serving plaintext under pipelined load.
# Starts Hello (1 worker) and then the C responder, each pinned to SERVER_CPU, loads each with
# wrk (1 thread on CLIENT_CPU, CONNECTIONS connections, pipelining DEPTH, 9 s) and
# `perf record -g`s the server for SECONDS of it (software cpu-clock sampling, so it works where
# hardware counters are not supported, as in this VM). Writes, for NAME in spindle and c:
#   OUT/http-perf-NAME.data     the samples (perf report -i ...)
#   OUT/http-perf-NAME.txt      wrk's summary; self time grouped (kernel TCP/IP vs io_uring, Swift
#                               runtime retain/release and metadata, allocation, parser, router,
#                               writer, HTTPTypes, logging, fibers, reactor: http/perf_groups.py),
#                               inclusive time of request-path functions, who allocates; then
#                               share per binary, self time per function (Swift names demangled)
#                               and inclusive time per function
#   OUT/http-perf-counts.txt    SQEs and system calls per request (perf stat, tracepoints), both
#                               servers at pipelining 1 and DEPTH
#
#   perf.sh BUILD_DIR SERVER_CPU CLIENT_CPU PORT OUT [DEPTH [CONNECTIONS [SECONDS]]]
set -euo pipefail
dir=$1 server_cpu=$2 client_cpu=$3 port=$4 out=$5 depth=${6:-16} connections=${7:-64} seconds=${8:-5}
here=$(cd "$(dirname "$0")" && pwd)
command -v perf >/dev/null || { echo "http-perf: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "http-perf: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
demangle=cat
command -v swift-demangle >/dev/null && demangle="swift-demangle --simplified"
source "$here/../lib/pinned-server.sh"

profile() {  # NAME COMMAND...
    local name=$1; shift
    start_server "$server_cpu" "$port" "$@"
    WRK_CONNECTIONS=$connections taskset -c "$client_cpu" wrk -t1 -c"$connections" -d$((seconds + 4))s --latency \
        -s "$here/pipeline.lua" "http://127.0.0.1:$port/plaintext" -- "$depth" >"$out/http-perf-$name.wrk" &
    local client=$!
    sleep 2
    perf record -q -g -e cpu-clock -F 4999 -p "$server" -o "$out/http-perf-$name.data" -- sleep "$seconds"
    wait "$client"
    stop_server
}

report() {  # NAME: the text report of a recorded profile (after the servers are gone)
    local name=$1
    {
        echo "# $name: wrk -t1 -c$connections, pipelining $depth, $((seconds + 4)) s (perf record for $seconds s of it)"
        grep -E "requests in|Requests/sec|RAWLAT" "$out/http-perf-$name.wrk" | sed 's/^/#   /'
        perf script -i "$out/http-perf-$name.data" -F ip,sym,dso 2>/dev/null | $demangle | python3 "$here/perf_groups.py"
        echo "# share per binary"
        perf report -i "$out/http-perf-$name.data" --no-children --stdio --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
        echo "# self time per function (>= 0.2 %)"
        perf report -i "$out/http-perf-$name.data" --no-children --stdio -F overhead,dso,sym --percent-limit 0.2 -g none \
            2>/dev/null | grep -v '^#' | grep -v '^$' | $demangle
        echo "# inclusive time per function (children, >= 2 %)"
        perf report -i "$out/http-perf-$name.data" --children --stdio --sort sym --percent-limit 2 -g none \
            2>/dev/null | grep -v '^#' | grep -v '^$' | $demangle
    } >"$out/http-perf-$name.txt"
    rm -f "$out/http-perf-$name.wrk"
    echo "http-perf: wrote $out/http-perf-$name.data and $out/http-perf-$name.txt"
}

# Kernel work per request: SQEs (io_uring:io_uring_submit_req tracepoint) and system calls
# (raw_syscalls:sys_enter) counted with perf stat over a whole 4 s wrk run, divided by the
# requests wrk completed. Tracepoints slow the server a little; the ratios are what matters.
count() {  # NAME DEPTH COMMAND...
    local name=$1 d=$2; shift 2
    start_server "$server_cpu" "$port" "$@"
    perf stat -x, -e io_uring:io_uring_submit_req,raw_syscalls:sys_enter -p "$server" -o "$out/http-perf-count.tmp" -- sleep 5 &
    local stat=$!
    sleep 0.3
    local requests
    requests=$(WRK_CONNECTIONS=$connections taskset -c "$client_cpu" wrk -t1 -c"$connections" -d4s \
        -s "$here/pipeline.lua" "http://127.0.0.1:$port/plaintext" -- "$d" | awk '/requests in/ {print $1}')
    wait "$stat" || true
    stop_server
    awk -F, -v n="$name" -v d="$d" -v r="$requests" '
        /io_uring_submit_req/ { sqe = $1 } /sys_enter/ { sys = $1 }
        END { if (r > 0 && sqe != "") printf "  %-8s pipelining %2d: %10d requests, %6.3f SQEs and %6.3f system calls per request\n", n, d, r, sqe / r, sys / r
              else printf "  %-8s pipelining %2d: no counts (tracepoints need root)\n", n, d }' "$out/http-perf-count.tmp"
    rm -f "$out/http-perf-count.tmp"
}

profile spindle "$dir/Hello" --host 127.0.0.1 --port "$port" --workers 1
profile c "$dir/c-http-server" "$port"
for name in spindle c; do report "$name"; done
{
    echo "# kernel work per request (perf stat tracepoints over a 4 s wrk run, $connections connections)"
    for d in 1 "$depth"; do
        count spindle "$d" "$dir/Hello" --host 127.0.0.1 --port "$port" --workers 1
        count c "$d" "$dir/c-http-server" "$port"
    done
} | tee "$out/http-perf-counts.txt"
for name in spindle c; do echo; head -60 "$out/http-perf-$name.txt"; done
