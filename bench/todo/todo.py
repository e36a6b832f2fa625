"""The todo API under a 90/10 read/write mix (`make bench-todo`, Docs/benchmarks/todo.md).

Per round: a fresh database; `Todo --workers 1` pinned to the server CPU (its offload threads,
which run SQLite, share that CPU: every thread of the process is server CPU); SEEDED todos
created through the API; a 2 s wrk warm-up; then `wrk -t1 -cCONNECTIONS --latency -s mix.lua`
pinned to the client CPU for SECONDS. Measured around the timed run: requests answered (wrk),
requests per server-CPU-second (utime + stime of the whole process from /proc/PID/stat), p50 and
p99 (wrk's latency distribution), non-2xx answers and socket errors (must be 0), and how the
handlers' time splits: the offload pool's queue wait and run time (spindle_offload_*_seconds_total)
against the time requests took (http_request_duration_seconds_sum), both from the admin
listener's /metrics. The median round is the result. Standard library only.
"""
import argparse
import csv
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def scrape(admin_port):
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


def wait_ready(port, admin_port, server):
    for _ in range(200):
        if server.poll() is not None:
            sys.exit(f"todo: the server exited with status {server.returncode}")
        try:
            scrape(admin_port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/todos?limit=1")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("todo: the server did not answer within 10 s")


def seed(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(count):
        conn.request("POST", "/todos", body=json.dumps({"title": f"todo {i + 1}"}), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            sys.exit(f"todo: seeding got {response.status}")
    conn.close()


def milliseconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(args, port, seconds, client_cpu):
    env = dict(os.environ, TODO_SEEDED=str(args.seeded))
    command = ["taskset", "-c", str(client_cpu), "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--latency",
               "-s", os.path.join(HERE, "mix.lua"), f"http://127.0.0.1:{port}"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
              "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
              "socket_errors": sum(int(x) for x in m.groups()) if (m := re.search(
                  r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)) else 0}
    for percent in ("50", "99"):
        result[f"p{percent}_ms"] = milliseconds(re.search(rf"^\s+{percent}%\s+(\S+)", out, re.M).group(1))
    return result


def one_round(args, number):
    workdir = tempfile.mkdtemp(prefix="spindle-bench-todo-")
    database = os.path.join(workdir, "todo.sqlite")
    command = ["taskset", "-c", str(args.server_cpu), args.todo, "--host", "127.0.0.1", "--port", str(args.port),
               "--workers", "1", "--database", database, "--access-log", "off", "--admin-port", str(args.admin_port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(args.port, args.admin_port, server)
        seed(args.port, args.seeded)
        run_wrk(args, args.port, 2, args.client_cpu)  # warm-up
        before, cpu_before = scrape(args.admin_port), cpu_seconds(server.pid)
        timed = run_wrk(args, args.port, args.seconds, args.client_cpu)
        cpu_after, after = cpu_seconds(server.pid), scrape(args.admin_port)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for name in os.listdir(workdir):
            os.remove(os.path.join(workdir, name))
        os.rmdir(workdir)

    def delta(name):
        return after.get(name, 0.0) - before.get(name, 0.0)

    cpu = cpu_after - cpu_before
    handled = delta("http_request_duration_seconds_sum")
    row = dict(timed, round=number, seconds=args.seconds, server_cpu_seconds=round(cpu, 3),
               rps=round(timed["requests"] / args.seconds),
               per_cpu_second=round(timed["requests"] / cpu) if cpu > 0 else 0,
               offload_wait_share=round(delta("spindle_offload_queue_wait_seconds_total") / handled, 4) if handled > 0 else 0,
               offload_run_share=round(delta("spindle_offload_run_seconds_total") / handled, 4) if handled > 0 else 0,
               offloads=int(delta("spindle_offload_completed_total")))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--todo", required=True, help="the Todo executable (release)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--port", type=int, default=7700)
    parser.add_argument("--admin-port", type=int, default=7701)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seeded", type=int, default=1000)
    parser.add_argument("--csv", help="write every round and the median here")
    args = parser.parse_args()
    print(f"todo: {args.rounds} rounds of {args.seconds} s, wrk -t1 -c{args.connections}, 90/10 read/write mix over "
          f"{args.seeded} seeded todos; server on CPU {args.server_cpu} (1 worker), client on CPU {args.client_cpu}; "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = []
    for number in range(1, args.rounds + 1):
        row = one_round(args, number)
        rows.append(row)
        print(f"  round {number}: {row['requests']} requests, {row['rps']} req/s, {row['per_cpu_second']} req per server-CPU-s, "
              f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, offload wait {row['offload_wait_share']:.1%} + "
              f"run {row['offload_run_share']:.1%} of request time, {row['non2xx']} non-2xx, {row['socket_errors']} socket errors")
    median = {key: statistics.median(row[key] for row in rows)
              for key in ("rps", "per_cpu_second", "p50_ms", "p99_ms", "offload_wait_share", "offload_run_share")}
    failures = sum(row["non2xx"] + row["socket_errors"] for row in rows)
    print(f"median: {median['rps']:.0f} req/s, {median['per_cpu_second']:.0f} req per server-CPU-second, "
          f"p50 {median['p50_ms']:.2f} ms, p99 {median['p99_ms']:.2f} ms; time in offload: "
          f"{median['offload_wait_share']:.1%} queued + {median['offload_run_share']:.1%} running, of the requests' time")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["kind"] + list(rows[0].keys()))
            writer.writeheader()
            for row in rows:
                writer.writerow(dict(row, kind="round"))
            writer.writerow(dict(median, kind="median"))
    if failures:
        print(f"FAIL {failures} non-2xx answers or socket errors")
        sys.exit(1)


if __name__ == "__main__":
    main()
