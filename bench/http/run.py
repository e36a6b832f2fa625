#!/usr/bin/env python3
"""The HTTP (plaintext) benchmark behind `make bench-http` / `make -C bench http`.

Three servers, each with one worker pinned to one CPU (SERVER_CPU), answer `GET /plaintext` with
"Hello, World!" over keep-alive connections on 127.0.0.1:

  Spindle   Examples/Hello (`Hello --port P --workers 1`), release build
  nginx     nginx-light, generated config: worker_processes 1, master_process off (the one
            process is the worker; its PID is the one measured), access_log off,
            `return 200 "Hello, World!"`, keepalive_requests 1000000
  C         c-http-server.c: bare liburing responder (multishot accept, recv into a provided
            buffer ring, count `\\r\\n\\r\\n`, send that many canned responses); the per-core bound

The load is wrk (one thread pinned to CLIENT_CPU, 64 connections) with pipeline.lua, at
pipelining depth 1 (plain keep-alive) and 16. Each server gets a 1 s warm-up per depth, then
the servers take turns (order rotated every repetition) for REPS repetitions of SECONDS each.
For every turn: requests/s (wrk), latency percentiles, and the server's utime+stime from
/proc/PID/stat (all threads) read just before wrk starts and just after it exits, giving
requests per server-CPU-second. A turn where other processes took more than --max-other % of
either CPU (/proc/stat busy time minus the server's and wrk's) is run again, within a time
budget; medians use the undisturbed turns when there are at least 3. Latency percentiles come
from pipeline.lua (wrk's own are wrong under pipelining). Medians over the repetitions; goals
(Spindle vs nginx) printed as PASS/FAIL; a CSV of every turn and median.

Standard library only. Exit status 0 when every measurement ran (a FAIL is a result), 1 when
something broke (a server died, a port was taken, wrk failed). See Docs/benchmarks.md,
section "HTTP (plaintext)".
"""
import argparse
import atexit
import csv
import ctypes
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILDREN = []  # every server this script started; killed on any exit
SERVERS = ("Spindle", "nginx", "C")
DEPTHS = (1, 16)


def die_with_parent():
    """In the child before exec: SIGKILL when this script dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except Exception:
        pass


def kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    CHILDREN.clear()


def on_signal(signum, _frame):
    kill_children()
    sys.exit(128 + signum)


def die(message):
    print(f"bench-http: {message}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- machine and process facts

def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def background_busy(seconds=1.0):
    """Percent busy of each CPU over `seconds` (/proc/stat)."""
    def sample():
        cpus = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    name, *v = line.split()
                    v = [int(x) for x in v]
                    cpus[int(name[3:])] = (sum(v[:8]), v[3] + v[4])
        return cpus
    a = sample()
    time.sleep(seconds)
    b = sample()
    return {cpu: 100 * (1 - (b[cpu][1] - a[cpu][1]) / max(1, b[cpu][0] - a[cpu][0])) for cpu in b}


def git_revision(root):
    try:
        rev = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--short", "--", "Sources", "Examples", "Package.swift"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
        dirty = [line for line in dirty if line.strip()]
        return rev + (f" ({len(dirty)} uncommitted change(s) under Sources/, Examples/, Package.swift)" if dirty else "")
    except Exception:
        return "unknown"


def tool_version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return "unknown"


def cpu_busy_ticks():
    """{cpu: busy clock ticks since boot} from /proc/stat (all fields but idle and iowait)."""
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v]
                cpus[int(name[3:])] = sum(v[:8]) - v[3] - v[4]
    return cpus


def cpu_ticks(pid):
    """utime + stime (fields 14 and 15 of /proc/PID/stat), all threads, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields[0] is field 3 (state)


def schedstat_ns(pid):
    """ns on CPU summed over the process's threads (/proc/PID/task/*/schedstat): a cross-check."""
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ns


# ---------------------------------------------------------------- servers

def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_server(name, argv, port, cpu, log):
    deadline = time.monotonic() + 10
    while not port_free(port):  # an io_uring server that just exited can hold its port a moment
        if time.monotonic() > deadline:
            die(f"port {port} is in use; pick other ports with HTTP_PORT=... (make -C bench http HTTP_PORT=7450)")
        time.sleep(0.2)
    command = ["taskset", "-c", str(cpu)] + argv
    p = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         preexec_fn=die_with_parent)
    CHILDREN.append(p)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if p.poll() is not None:
            die(f"{name} exited with status {p.returncode} at start-up: {' '.join(command)} (log: {log.name})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p
        except OSError:
            time.sleep(0.05)
    die(f"{name} did not accept connections on port {port} within 15 s")


def probe(name, port):
    """One GET /plaintext; returns the raw response (checked: 200, body "Hello, World!")."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"Hello, World!"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"\r\n\r\nHello, World!"):
        die(f"{name} answered GET /plaintext with {data[:300]!r}")
    return data


def nginx_config(directory, port):
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    os.makedirs(os.path.join(directory, "client_body_temp"), exist_ok=True)
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""# Generated by bench/http/run.py for `make -C bench http`. One process that is the worker.
worker_processes 1;
daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body_temp;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    server {{
        listen 127.0.0.1:{port};
        location /plaintext {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
""")
    return path


# ---------------------------------------------------------------- one measured turn

def parse_duration_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}[m.group(2)]


def run_wrk(args, server, port, depth, seconds):
    url = f"http://127.0.0.1:{port}/plaintext"
    command = ["taskset", "-c", str(args.client_cpu), args.wrk, "-t1", f"-c{args.connections}",
               f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s", "-s", args.lua, url, "--", str(depth)]
    env = dict(os.environ, WRK_CONNECTIONS=str(args.connections))
    before_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0 = cpu_busy_ticks()
    ticks0, ns0, t0 = cpu_ticks(server.pid), schedstat_ns(server.pid), time.monotonic()
    r = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, env=env)
    t1 = time.monotonic()
    if server.poll() is not None:
        die(f"server on port {port} exited with status {server.returncode} during {' '.join(command)}")
    ticks1, ns1 = cpu_ticks(server.pid), schedstat_ns(server.pid)
    busy1 = cpu_busy_ticks()
    after_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = r.stdout
    if r.returncode != 0:
        die(f"wrk failed ({' '.join(command)}): status {r.returncode}: {r.stderr.strip()} {out.strip()}")
    m = re.search(r"(\d+) requests in ([\d.]+\w+),", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    raw = re.search(r"RAWLAT count=(\d+) p50=(\d+) p90=(\d+) p99=(\d+) max=(\d+) interval=(\d+) done_cpu=([\d.]+)", out)
    if not (m and rps and raw):
        die(f"cannot parse wrk's output:\n{out}\n{r.stderr}")
    requests = int(m.group(1))
    wrk_seconds = parse_duration_us(m.group(2)) / 1e6
    wrk_pct = {p: parse_duration_us(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    cpu_s = (ticks1 - ticks0) / CLK_TCK
    # CPU time that neither the server nor wrk used on their CPUs: other processes (a build, a
    # test, another benchmark) competing with this turn. Idle servers cost ~0.
    wrk_total = (after_client.ru_utime - before_client.ru_utime) + (after_client.ru_stime - before_client.ru_stime)
    foreign_server = max(0.0, (busy1[args.server_cpu] - busy0[args.server_cpu]) / CLK_TCK - cpu_s)
    foreign_client = max(0.0, (busy1[args.client_cpu] - busy0[args.client_cpu]) / CLK_TCK - wrk_total)
    # wrk's CPU time without its done() (the histogram walk after the load).
    client_cpu = (after_client.ru_utime - before_client.ru_utime) + (after_client.ru_stime - before_client.ru_stime) \
        - float(raw.group(7))
    return {
        "requests": requests,
        "seconds": wrk_seconds,
        "wall_s": t1 - t0,
        "req_per_s": float(rps.group(1)),
        "p50_us": int(raw.group(2)),
        "p90_us": int(raw.group(3)),
        "p99_us": int(raw.group(4)),
        "max_us": int(raw.group(5)),
        "samples": int(raw.group(1)),
        "wrk_p50_us": wrk_pct.get("50", float("nan")),
        "wrk_p99_us": wrk_pct.get("99", float("nan")),
        "server_cpu_s": cpu_s,
        # Over wrk's load interval: the servers idle at ~0 CPU around it (wrk's start-up and done()).
        "server_cpu_pct": 100 * cpu_s / wrk_seconds,
        "schedstat_cpu_s": (ns1 - ns0) / 1e9,
        "client_cpu_pct": 100 * client_cpu / wrk_seconds,
        "req_per_cpu_s": requests / cpu_s if cpu_s > 0 else float("nan"),
        "errors": errors,
        "other_on_server_cpu_pct": 100 * foreign_server / (t1 - t0),
        "other_on_client_cpu_pct": 100 * foreign_client / (t1 - t0),
    }


# ---------------------------------------------------------------- formatting

def kept(samples):
    """The turns the medians use: the undisturbed ones when there are at least 3 (or all turns,
    with fewer repetitions), else every turn (the table says how many were disturbed)."""
    clean = [s for s in samples if not s["disturbed"]]
    return clean if len(clean) >= min(3, len(samples)) else samples


def med(samples, key):
    return statistics.median(s[key] for s in samples)


def fmt_us(us):
    if us != us:  # NaN
        return "—"
    return f"{us:,.0f} µs" if us < 10_000 else f"{us / 1000:,.1f} ms"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--c-server", required=True, help="c-http-server executable")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--lua", default=os.path.join(here, "pipeline.lua"))
    parser.add_argument("--workdir", required=True, help="where the nginx config and the server logs go")
    parser.add_argument("--csv", default=os.path.join(here, "..", "out", "http.csv"))
    parser.add_argument("--reps", type=int, default=5, help="turns per server and depth")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration of a turn (whole seconds)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured wrk run per server and depth first (s)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--port", type=int, default=7400, help="base port; uses PORT+1..PORT+3")
    parser.add_argument("--max-other", type=float, default=10,
                        help="a turn where other processes used more than this %% of the server's or wrk's CPU is "
                             "disturbed: it is run again (up to --retries times)")
    parser.add_argument("--retries", type=int, default=2, help="runs of a disturbed turn at most (on top of the first)")
    parser.add_argument("--retry-budget", type=float, default=60,
                        help="seconds spent on re-runs in all; beyond it disturbed turns are kept (and marked)")
    parser.add_argument("--retry-pause", type=float, default=5, help="seconds to wait before running a disturbed turn again")
    parser.add_argument("--wait-quiet", type=float, default=60,
                        help="first wait up to this many seconds for both CPUs to be under 10 %% busy")
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and depth, 1 s warm-up")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup = 1, 1, 1
    args.lua = os.path.abspath(args.lua)
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(kill_children)

    allowed = sorted(os.sched_getaffinity(0))
    for cpu in (args.server_cpu, args.client_cpu):
        if cpu not in allowed:
            die(f"CPU {cpu} is not available (allowed: {allowed}); set SERVER_CPU/CLIENT_CPU")
    if args.server_cpu == args.client_cpu:
        print("bench-http: warning: servers and wrk share a CPU", file=sys.stderr)

    started = time.monotonic()
    root = os.path.abspath(os.path.join(here, "..", ".."))
    print("bench-http: plaintext keep-alive, Spindle vs nginx vs C liburing (one worker on one core each)")
    print(f"date       {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"cpu        {cpu_model()}, {os.cpu_count()} online, allowed {allowed}")
    print(f"kernel     {platform.release()}")
    print(f"core       {git_revision(root)}")
    print(f"tools      {tool_version([args.wrk, '--version'])}; {tool_version([args.nginx, '-v'])}")
    print(f"load       {load_average()} (1/5/15 min; other busy processes skew the numbers)")
    waited = time.monotonic()
    busy = background_busy()
    while max(busy[args.server_cpu], busy[args.client_cpu]) > 10 and time.monotonic() - waited < args.wait_quiet:
        busy = background_busy(2.0)
    print("background " + ", ".join(f"CPU {c} {p:.0f} %" for c, p in sorted(busy.items()))
          + f" busy over the last second(s) before the run (should be ~0; waited {time.monotonic() - waited:.0f} s"
          f" for that, at most {args.wait_quiet:g} s)")
    print(f"pinning    servers on CPU {args.server_cpu}, wrk -t1 on CPU {args.client_cpu}; 127.0.0.1; "
          f"{args.connections} connections")
    print(f"samples    {args.reps} rotating turns per server and depth, {args.seconds:g} s each "
          f"(after a {args.warmup:g} s warm-up per server and depth); medians (min–max)\n")

    ports = {"Spindle": args.port + 1, "nginx": args.port + 2, "C": args.port + 3}
    logs = {name: open(os.path.join(workdir, f"{name.lower()}.log"), "w") for name in SERVERS}
    conf = nginx_config(os.path.join(workdir, "nginx"), ports["nginx"])
    t = subprocess.run([args.nginx, "-t", "-q", "-e", os.path.join(workdir, "nginx", "logs", "error.log"),
                        "-p", os.path.join(workdir, "nginx"), "-c", conf], capture_output=True, text=True)
    if t.returncode != 0:
        die(f"nginx -t rejected {conf}: {t.stderr.strip()}")
    argv = {
        "Spindle": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["Spindle"]), "--workers", "1"],
        "nginx": [args.nginx, "-e", os.path.join(workdir, "nginx", "logs", "error.log"),
                  "-p", os.path.join(workdir, "nginx"), "-c", conf],
        "C": [args.c_server, str(ports["C"])],
    }
    servers = {}
    for name in SERVERS:
        servers[name] = start_server(name, argv[name], ports[name], args.server_cpu, logs[name])
    for name in SERVERS:
        p = servers[name]
        threads = len(os.listdir(f"/proc/{p.pid}/task"))
        response = probe(name, ports[name])
        print(f"  {name:<8} pid {p.pid}, {threads} thread(s), {len(response)}-byte response: "
              + " | ".join(line.decode() for line in response.split(b"\r\n\r\n")[0].split(b"\r\n")))
    print()

    for depth in DEPTHS:
        for name in SERVERS:
            run_wrk(args, servers[name], ports[name], depth, args.warmup)

    rows = []
    samples = {(name, depth): [] for name in SERVERS for depth in DEPTHS}
    retried, retry_time = 0, 0.0
    for rep in range(args.reps):
        order = SERVERS[rep % 3:] + SERVERS[:rep % 3]
        for depth in DEPTHS:
            for name in order:
                for attempt in range(1 + args.retries):
                    if attempt > 0:
                        retried += 1
                    turn_started = time.monotonic()
                    s = run_wrk(args, servers[name], ports[name], depth, args.seconds)
                    if attempt > 0:
                        retry_time += time.monotonic() - turn_started
                    s["disturbed"] = int(max(s["other_on_server_cpu_pct"], s["other_on_client_cpu_pct"]) > args.max_other)
                    if not s["disturbed"]:
                        break
                    if retry_time + args.seconds + args.retry_pause > args.retry_budget:
                        attempt = args.retries  # budget spent: keep this one
                    print(f"  pipeline {depth:>2}  {name:<7} turn {rep + 1}: disturbed (other processes took "
                          f"{s['other_on_server_cpu_pct']:.0f} % of CPU {args.server_cpu}, "
                          f"{s['other_on_client_cpu_pct']:.0f} % of CPU {args.client_cpu})"
                          + ("; again" if attempt < args.retries else "; kept, marked disturbed"), flush=True)
                    if attempt < args.retries:
                        time.sleep(args.retry_pause)
                        retry_time += args.retry_pause
                    else:
                        break
                samples[(name, depth)].append(s)
                rows.append({"kind": "sample", "server": name, "pipeline": depth, "rep": rep + 1, **s})
                print(f"  pipeline {depth:>2}  {name:<7} turn {rep + 1}: {s['req_per_s']:>10,.0f} req/s, "
                      f"p50 {fmt_us(s['p50_us']):>8}, p99 {fmt_us(s['p99_us']):>8}, "
                      f"server CPU {s['server_cpu_pct']:5.1f} %, {s['req_per_cpu_s']:>10,.0f} req/CPU-s, "
                      f"wrk CPU {s['client_cpu_pct']:4.0f} %, others {s['other_on_server_cpu_pct']:.0f}/"
                      f"{s['other_on_client_cpu_pct']:.0f} %" + (f", {s['errors']} ERRORS" if s["errors"] else ""),
                      flush=True)
    for name in SERVERS:
        servers[name].terminate()

    # Table.
    print(f"\n| pipeline | server | req/s (median) | min–max | p50 | p99 | max | wrk p99 | server CPU | req per server-CPU-s (median) | min–max | wrk CPU | errors | turns used (disturbed) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for depth in DEPTHS:
        for name in SERVERS:
            every = samples[(name, depth)]
            ss = kept(every)
            wrk_p99 = med(ss, "wrk_p99_us") if depth == 1 else float("nan")
            print(f"| {depth} | {name} | {med(ss, 'req_per_s'):,.0f} | {min(s['req_per_s'] for s in ss):,.0f}–"
                  f"{max(s['req_per_s'] for s in ss):,.0f} | {fmt_us(med(ss, 'p50_us'))} | {fmt_us(med(ss, 'p99_us'))} | {fmt_us(med(ss, 'max_us'))} | "
                  f"{fmt_us(wrk_p99)} | {med(ss, 'server_cpu_pct'):.0f} % | {med(ss, 'req_per_cpu_s'):,.0f} | "
                  f"{min(s['req_per_cpu_s'] for s in ss):,.0f}–{max(s['req_per_cpu_s'] for s in ss):,.0f} | "
                  f"{med(ss, 'client_cpu_pct'):.0f} % | {sum(s['errors'] for s in every)} | {len(ss)} of {len(every)} ({sum(s['disturbed'] for s in ss)}) |")
            rows.append({"kind": "median", "server": name, "pipeline": depth,
                         **{k: med(ss, k) for k in ("requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us",
                                                    "max_us", "wrk_p50_us", "wrk_p99_us", "server_cpu_s",
                                                    "server_cpu_pct", "schedstat_cpu_s", "client_cpu_pct",
                                                    "req_per_cpu_s")},
                         "min": min(s["req_per_cpu_s"] for s in ss), "max": max(s["req_per_cpu_s"] for s in ss),
                         "errors": sum(s["errors"] for s in ss)})

    goals, infos = [], []
    per_cpu_goal = {1: 1.0, 16: 1.5}
    for depth in DEPTHS:
        sp, ng, c = (kept(samples[(who, depth)]) for who in ("Spindle", "nginx", "C"))
        r_cpu = med(sp, "req_per_cpu_s") / med(ng, "req_per_cpu_s")
        r_rps = med(sp, "req_per_s") / med(ng, "req_per_s")
        goals.append((f"pipeline {depth}: Spindle req per server-CPU-s ≥ {per_cpu_goal[depth]:g}× nginx",
                      f"{r_cpu:.2f}× ({med(sp, 'req_per_cpu_s'):,.0f} vs {med(ng, 'req_per_cpu_s'):,.0f})",
                      "PASS" if r_cpu >= per_cpu_goal[depth] else "FAIL", "Spindle/nginx", r_cpu, depth))
        goals.append((f"pipeline {depth}: Spindle req/s ≥ nginx",
                      f"{r_rps:.2f}× ({med(sp, 'req_per_s'):,.0f} vs {med(ng, 'req_per_s'):,.0f})",
                      "PASS" if r_rps >= 1.0 else "FAIL", "Spindle/nginx req/s", r_rps, depth))
        p99s, p99n = med(sp, "p99_us"), med(ng, "p99_us")
        goals.append((f"pipeline {depth}: Spindle p99 ≤ nginx",
                      f"{fmt_us(p99s)} vs {fmt_us(p99n)} ({p99s / p99n:.2f}×)",
                      "PASS" if p99s <= p99n else "FAIL", "Spindle/nginx p99", p99s / p99n, depth))
        for what, key in (("req per server-CPU-s", "req_per_cpu_s"), ("req/s", "req_per_s")):
            ratio = med(sp, key) / med(c, key)
            infos.append((f"pipeline {depth}: Spindle/C {what}", f"{ratio:.2f}×"))
            rows.append({"kind": "ratio", "server": f"Spindle/C {key}", "pipeline": depth, "ratio": f"{ratio:.4f}"})
        ratio = med(ng, "req_per_cpu_s") / med(c, "req_per_cpu_s")
        infos.append((f"pipeline {depth}: nginx/C req per server-CPU-s", f"{ratio:.2f}×"))

    print("\n| goal | measured | result |")
    print("|---|---|---|")
    for goal, measured, result, *_ in goals:
        print(f"| {goal} | {measured} | {result} |")
    for goal, measured in infos:
        print(f"| {goal} (no goal) | {measured} | — |")
    print()
    for goal, measured, result, who, ratio, depth in goals:
        print(f"{result}  {goal}: {measured}")
        rows.append({"kind": "goal", "server": who, "pipeline": depth, "ratio": f"{ratio:.4f}", "result": result})
    for goal, measured in infos:
        print(f"info  {goal}: {measured}")

    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    fields = ["kind", "server", "pipeline", "rep", "requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us",
              "max_us", "samples", "wrk_p50_us", "wrk_p99_us", "server_cpu_s", "server_cpu_pct", "schedstat_cpu_s",
              "client_cpu_pct", "req_per_cpu_s", "min", "max", "errors", "other_on_server_cpu_pct",
              "other_on_client_cpu_pct", "disturbed", "ratio", "result", "wall_s"]
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    kill_children()
    print(f"\n{retried} re-run(s) ({retry_time:.0f} s of a {args.retry_budget:g} s budget) because other processes used "
          f"more than {args.max_other:g} % of the server's or wrk's CPU; turns kept although disturbed: "
          f"{sum(s['disturbed'] for ss in samples.values() for s in ss)}; medians use the undisturbed turns when there "
          f"are at least 3 (column 'turns used')")
    busy = background_busy()
    print("\nbackground " + ", ".join(f"CPU {c} {p:.0f} %" for c, p in sorted(busy.items()))
          + f" busy over 1 s after the run; load {load_average()}")
    print(f"CSV written to {args.csv}; wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
