#!/usr/bin/env bash
# Reloads under load (`make bench-reload`, Docs/processes.md): Examples/Hello in release with
# `--processes 2` under wrk (RELOAD_CONNECTIONS connections, default 64, for RELOAD_SECONDS,
# default 20), sent SIGHUP every RELOAD_EVERY seconds (default 5). Fails when wrk saw a non-2xx
# answer or a socket error (connect, read, write, timeout), when a reload did not replace every
# worker, or when the supervisor is gone at the end.
#
#   bench/reload/reload.sh HELLO_BINARY
set -euo pipefail
hello=$1
port=${RELOAD_PORT:-7910}
seconds=${RELOAD_SECONDS:-20}
every=${RELOAD_EVERY:-5}
connections=${RELOAD_CONNECTIONS:-64}
log=$(mktemp -t spindle-reload-server.XXXXXX)
out=$(mktemp -t spindle-reload-wrk.XXXXXX)

"$hello" --host 127.0.0.1 --port "$port" --processes 2 --access-log off >"$log" 2>&1 &
server=$!
stop_server() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
trap stop_server EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null && break
    sleep 0.1
done
workers() { pgrep -P "$server" | sort | tr '\n' ' '; }
first=$(workers)
echo "reload: Hello (supervisor $server, workers $first) on 127.0.0.1:$port; wrk -c$connections for ${seconds}s, SIGHUP every ${every}s"

wrk -t2 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$port/plaintext" >"$out" 2>&1 &
load=$!
reloads=0
replaced=0
previous=$first
started=$(date +%s)
while (( $(date +%s) + every < started + seconds )); do
    sleep "$every"
    kill -HUP "$server"
    reloads=$((reloads + 1))
    # A reload is done when no worker of the previous set is left (they drain in well under 5 s).
    for _ in $(seq 40); do
        now=$(workers)
        left=0
        for pid in $previous; do [[ " $now " == *" $pid "* ]] && left=1; done
        (( left == 0 )) && [[ -n "$now" ]] && break
        sleep 0.1
    done
    if (( left == 0 )); then replaced=$((replaced + 1)); fi
    echo "reload $reloads: workers $previous-> $now"
    previous=$now
done
wait "$load"
cat "$out"

status=0
requests=$(awk '/requests in/ {print $1}' "$out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
echo "reload: $reloads reloads ($replaced replaced every worker), $requests requests, ${non2xx:-0} non-2xx, ${errors:-0} socket errors"
if [[ -n "$non2xx" && "$non2xx" != 0 ]]; then echo "FAIL non-2xx answers: $non2xx"; status=1; fi
if [[ -n "$errors" && "$errors" != 0 ]]; then echo "FAIL socket errors: $errors"; status=1; fi
if (( reloads == 0 || replaced != reloads )); then echo "FAIL a reload did not replace every worker"; status=1; fi
if ! kill -0 "$server" 2>/dev/null; then echo "FAIL the supervisor is gone; its log:"; tail -50 "$log"; status=1; fi
stop_server
trap - EXIT
echo "reload: server log in $log"
exit $status
