#!/usr/bin/env bash
# The soak test (`make soak`, Docs/soak.md): Examples/Hello in release with two workers under
# bench/go/soakdriver.go's mix for SOAK_MINUTES (default 30), sampled every 10 s. Writes the
# samples to SOAK_CSV and their plot to SOAK_PLOT; fails when an answer was wrong, a descriptor,
# fiber, stack, pooled object or connection was left behind, or RSS grew by more than 1% after
# the warm-up (SOAK_WARMUP_MINUTES, default a sixth of the run).
#
#   bench/soak/soak.sh HELLO_BINARY DRIVER_BINARY
set -euo pipefail
hello=$1
driver=$2
minutes=${SOAK_MINUTES:-30}
warmup=${SOAK_WARMUP_MINUTES:-$(python3 -c "print($minutes / 6)")}
port=${SOAK_PORT:-7900}
admin=${SOAK_ADMIN_PORT:-7901}
csv=${SOAK_CSV:-Docs/img/soak.csv}
plot=${SOAK_PLOT:-Docs/img/soak.png}
log=$(mktemp -t spindle-soak-server.XXXXXX)

"$hello" --host 127.0.0.1 --port "$port" --workers 2 --access-log off \
    --admin-host 127.0.0.1 --admin-port "$admin" >"$log" 2>&1 &
server=$!
stop_server() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
trap stop_server EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null && curl -sf "http://127.0.0.1:$admin/metrics" >/dev/null && break
    sleep 0.1
done
echo "soak: Hello (pid $server) on 127.0.0.1:$port, admin :$admin, $minutes min ($warmup min warm-up); samples to $csv"
status=0
"$driver" -port "$port" -admin "$admin" -pid "$server" -minutes "$minutes" -warmup "$warmup" -csv "$csv" || status=$?
if ! kill -0 "$server" 2>/dev/null; then
    echo "FAIL the server is gone; its log:"; tail -50 "$log"; status=1
fi
stop_server
trap - EXIT
python3 bench/soak/plot.py "$csv" "$plot" --title "Spindle soak: Examples/Hello, 2 workers, $minutes min, $(date -u +%Y-%m-%d)"
echo "soak: plot in $plot; server log in $log"
exit $status
