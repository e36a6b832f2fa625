#!/usr/bin/env bash
# Instructions per request of a Hello binary under wrk (bench/profile, `make -C bench profile`).
#
#   bench/profile/callgrind.sh NAME HELLO_BINARY PORT DEPTH OUT_DIR
#
# Runs the binary (debug info stripped: valgrind 3.19 cannot read the DWARF of Swift 6 release
# binaries; the symbol table stays, so functions keep their names) under callgrind with one
# worker on io_uring, access log, metrics (PROFILE_METRICS=on to count them) and admin listener off; a 2 s wrk warm-up at
# pipelining DEPTH, then the counters are zeroed, `wrk -t1 -c16 -d5s` runs, the counters are
# dumped and the server is killed. Prints `NAME pDEPTH requests=N instructions=I
# per_request=I/N profile=FILE`. Instruction counts do not depend on how busy the machine is,
# which is why this exists beside the timed benchmarks: it tells where the instructions of a
# request go, and an A/B of two binaries, exactly (user space only: the kernel's share is not
# counted; time is not instructions). PROFILE_PATH picks the route (default /plaintext; /json
# shows the JSON encoder's share).
set -euo pipefail
name=$1; binary=$2; port=$3; depth=$4; out=$5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
stripped="$out/$name.bin"
cp "$binary" "$stripped"
strip --strip-debug "$stripped"
profile="$out/$name-p$depth.callgrind"
rm -f "$profile" "$profile".*
SPINDLE_ACCESS_LOG=off SPINDLE_METRICS=${PROFILE_METRICS:-off} SPINDLE_ADMIN_PORT=0 SPINDLE_IO=uring \
    valgrind --tool=callgrind --callgrind-out-file="$profile" "$stripped" --host 127.0.0.1 --port "$port" --workers 1 \
    >"$out/$name-p$depth.log" 2>&1 &
valgrind_pid=$!
trap 'kill -9 $valgrind_pid 2>/dev/null || true' EXIT
for _ in $(seq 150); do curl -sf -m 1 "http://127.0.0.1:$port/plaintext" >/dev/null && break; sleep 0.2; done
url="http://127.0.0.1:$port${PROFILE_PATH:-/plaintext}"
wrk -t1 -c16 -d2s -s "$here/../http/pipeline.lua" "$url" -- "$depth" >/dev/null
callgrind_control --zero "$valgrind_pid" >/dev/null
requests=$(wrk -t1 -c16 -d5s -s "$here/../http/pipeline.lua" "$url" -- "$depth" | sed -nE 's/^ *([0-9]+) requests in.*/\1/p')
callgrind_control --dump "$valgrind_pid" >/dev/null
sleep 1
kill -9 "$valgrind_pid" 2>/dev/null || true
wait "$valgrind_pid" 2>/dev/null || true
trap - EXIT
dump=$(ls -t "$profile".* | head -1)
instructions=$(callgrind_annotate "$dump" 2>/dev/null | sed -nE 's/^ *([0-9,]+) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
echo "$name p$depth requests=$requests instructions=$instructions per_request=$((instructions / requests)) profile=$dump"
