#!/usr/bin/env bash
# Reference-count calls per request: `make -C bench http-refcounts [BASELINE=<commit>]`.
#
# Counts, exactly, the calls Hello (and, with a baseline, Hello built from that commit) makes to
# the Swift runtime's swift_retain, swift_release, swift_bridgeObjectRetain and
# swift_bridgeObjectRelease while answering GET /plaintext at pipelining 16: uprobes on
# libswiftCore (`perf probe`), counted by `perf stat` over a 2 s wrk run, divided by the requests
# wrk made. Atomic reference counting is the largest share of Spindle's user-space CPU per request
# (about a fifth at pipelining 16, see Docs/benchmarks/http.md), and unlike a time it does not
# drift with the machine's load: a change to the request path that adds or removes retains shows
# here as a number, not as a percent lost in the noise. (The uprobes slow the server several fold
# while they count; the counts are exact, the request rate is not a result.)
#
# Usage: refcounts.sh HELLO [BASELINE_HELLO] SERVER_CPU CLIENT_CPU PORT OUT_DIR
# Needs root (uprobes) and perf. Writes OUT_DIR/http-refcounts.txt.
set -euo pipefail
hello=$1; shift
baseline=""
if [ $# -eq 5 ]; then baseline=$1; shift; fi
server_cpu=$1 client_cpu=$2 port=$3 out=$4
lua=$(cd "$(dirname "$0")" && pwd)/pipeline.lua
library=$(ldd "$hello" | awk '/libswiftCore.so/ {print $3}')
[ -n "$library" ] || { echo "refcounts: $hello does not link libswiftCore.so dynamically" >&2; exit 1; }
events=""
for symbol in swift_retain swift_release swift_bridgeObjectRetain swift_bridgeObjectRelease; do
    perf probe -q -x "$library" -a "$symbol" 2>/dev/null || true  # already there: fine
    events+="${events:+,}probe_libswiftCore:$symbol"
done
perf probe -l 2>/dev/null | grep -q probe_libswiftCore:swift_retain || { echo "refcounts: perf probe failed (root and uprobes are needed)" >&2; exit 1; }

count() {  # count LABEL BINARY PORT
    local label=$1 binary=$2 port=$3
    SPINDLE_ACCESS_LOG=off SPINDLE_METRICS=off SPINDLE_ADMIN_PORT=0 SPINDLE_IO=uring \
        taskset -c "$server_cpu" "$binary" --host 127.0.0.1 --port "$port" --workers 1 >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
    taskset -c "$client_cpu" wrk -t1 -c64 -d1s -s "$lua" "http://127.0.0.1:$port/plaintext" -- 16 >/dev/null  # warm-up
    perf stat -x, -e "$events" -p "$pid" -o "$out/.refcounts-$label.csv" &
    local stat=$!
    sleep 0.5
    local requests
    requests=$(taskset -c "$client_cpu" wrk -t1 -c64 -d2s -s "$lua" "http://127.0.0.1:$port/plaintext" -- 16 | awk '/requests in/ {print $1}')
    sleep 0.3
    kill -INT "$stat"; wait "$stat" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk -F, -v label="$label" -v r="$requests" '
        /probe_libswiftCore/ { split($3, name, ":"); n[name[2]] = $1 / r; total += $1 / r }
        END { printf "%-9s %8.2f %8.2f %8.2f %8.2f %9.2f   (%d requests)\n", label,
              n["swift_retain"], n["swift_release"], n["swift_bridgeObjectRetain"], n["swift_bridgeObjectRelease"], total, r }' \
        "$out/.refcounts-$label.csv"
    rm -f "$out/.refcounts-$label.csv"
}

mkdir -p "$out"
{
    echo "Reference-count calls per request, GET /plaintext at pipelining 16 ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r))"
    printf "%-9s %8s %8s %8s %8s %9s\n" server retain release bretain brelease total
    count Spindle "$hello" "$port"
    if [ -n "$baseline" ]; then count base "$baseline" $((port + 1)); fi
} | tee "$out/http-refcounts.txt"
