"""Shared machinery of the wrk-driven benchmarks in bench/: http/run.py (`make -C bench http`)
and peers/run.py (`make -C bench peers`). Not run by itself; a runner imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import benchutil

and sets `benchutil.PROGRAM` (the prefix of its error messages) and `benchutil.PORT_HINT` (how
to pick other ports when one is taken). What is here:

  processes   start_server() pins a server with taskset, waits for its port and makes it die
              with this script (PR_SET_PDEATHSIG); install_cleanup() kills every server on exit
              or signal; probe() checks one response
  machine     the run header (date, CPU, kernel, commit, tools, load, waiting for quiet CPUs),
              per-process CPU ticks (/proc/PID/stat), per-CPU busy ticks (/proc/stat), RSS
  wrk         run_wrk() runs one pinned wrk turn with http/pipeline.lua and returns req/s,
              latency percentiles, the server's CPU time and the CPU time other processes took;
              measured_turn() runs a turn again while other processes disturbed it
  pairs       run_pairs() runs back-to-back turn pairs of two servers (order alternating, fresh
              processes through the runner's callback) and prints each pair's ratio;
              pair_ratios() and pairs_verdict() judge a goal by the median of the pairs' ratios
  summaries   kept() / med() / median_of() / fmt_us(), write_csv(), print_footer()
  nginx       nginx_config(): the one-process nginx both benchmarks run

Standard library only.
"""
import atexit
import contextlib
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
PROGRAM = "bench"  # prefix of error messages; set by the runner
PORT_HINT = ""  # how to choose other ports, appended to "port N is in use"


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


def install_cleanup():
    """Every server this script starts is killed when it exits, fails or gets SIGINT/TERM/HUP."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(kill_children)


def die(message):
    print(f"{PROGRAM}: {message}", file=sys.stderr)
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


def proc_stat_cpus():
    """{cpu: [user, nice, system, idle, iowait, irq, softirq, steal]} in clock ticks (/proc/stat)."""
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                cpus[int(name[3:])] = [int(x) for x in v[:8]]
    return cpus


def background_busy(seconds=1.0):
    """Percent busy of each CPU over `seconds` (/proc/stat)."""
    def sample():
        return {cpu: (sum(v), v[3] + v[4]) for cpu, v in proc_stat_cpus().items()}
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
    return {cpu: sum(v) - v[3] - v[4] for cpu, v in proc_stat_cpus().items()}


_ksoftirqd_pids = {}


def ksoftirqd_pid(cpu):
    """The pid of `cpu`'s ksoftirqd kernel thread (found once), or None."""
    if cpu not in _ksoftirqd_pids:
        _ksoftirqd_pids[cpu] = None
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if pid.isdigit() and f.read().strip() == f"ksoftirqd/{cpu}":
                        _ksoftirqd_pids[cpu] = int(pid)
                        break
            except OSError:
                continue
    return _ksoftirqd_pids[cpu]


def kernel_work_ticks(cpu):
    """Clock ticks `cpu` spent on kernel work no process is charged for: its irq and softirq
    columns of /proc/stat, plus the time of its ksoftirqd thread (softirqs the kernel deferred,
    such as loopback TCP's receive processing for the packets a server sends)."""
    irq, softirq = proc_stat_cpus()[cpu][5:7]
    pid = ksoftirqd_pid(cpu)
    return irq + softirq + (cpu_ticks(pid) if pid is not None else 0)


def user_system_ticks(pid):
    """(utime, stime): fields 14 and 15 of /proc/PID/stat, all threads, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # fields[0] is field 3 (state)


def cpu_ticks(pid):
    """utime + stime of process `pid`, all threads, in clock ticks."""
    return sum(user_system_ticks(pid))


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


def rss_kib(pid):
    """Resident set size of the process (VmRSS of /proc/PID/status), KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    die(f"no VmRSS in /proc/{pid}/status")


def check_cpus(args):
    """The server and client CPUs must be ones this script may use; warn when they are the same."""
    allowed = sorted(os.sched_getaffinity(0))
    for cpu in (args.server_cpu, args.client_cpu):
        if cpu not in allowed:
            die(f"CPU {cpu} is not available (allowed: {allowed}); set SERVER_CPU/CLIENT_CPU")
    if args.server_cpu == args.client_cpu:
        print(f"{PROGRAM}: warning: servers and wrk share a CPU", file=sys.stderr)
    return allowed


def print_header(args, root, title, tools):
    """Prints the run's header: what, when, where, which commit and tools; then waits up to
    args.wait_quiet seconds for both benchmark CPUs to be under 10 % busy and says how busy they
    were. Returns the header's lines as (label, text) pairs, for a report."""
    allowed = check_cpus(args)
    print(f"{PROGRAM}: {title}")
    lines = [
        ("date", time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())),
        ("cpu", f"{cpu_model()}, {os.cpu_count()} online, allowed {allowed}"),
        ("kernel", platform.release()),
        ("core", git_revision(root)),
        ("tools", "; ".join(tools)),
        ("load", f"{load_average()} (1/5/15 min; other busy processes skew the numbers)"),
    ]
    for label, text in lines:
        print(f"{label:<10} {text}")
    waited = time.monotonic()
    busy = background_busy()
    while max(busy[args.server_cpu], busy[args.client_cpu]) > 10 and time.monotonic() - waited < args.wait_quiet:
        busy = background_busy(2.0)
    lines += [
        ("background", ", ".join(f"CPU {c} {p:.0f} %" for c, p in sorted(busy.items()))
         + f" busy over the last second(s) before the run (should be ~0; waited {time.monotonic() - waited:.0f} s"
         f" for that, at most {args.wait_quiet:g} s)"),
        ("pinning", f"servers on CPU {args.server_cpu}, wrk -t1 on CPU {args.client_cpu}; 127.0.0.1; "
         f"{args.connections} connections"),
    ]
    for label, text in lines[-2:]:
        print(f"{label:<10} {text}")
    return lines


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


def start_server(name, argv, port, cpu, log=None, env=None):
    """Starts argv pinned to `cpu` (taskset; None: not pinned), output to the open file `log`
    (None: discarded), killed with this script; returns the Popen once 127.0.0.1:port accepts a
    connection."""
    deadline = time.monotonic() + 10
    while not port_free(port):  # an io_uring server that just exited can hold its port a moment
        if time.monotonic() > deadline:
            die(f"port {port} is in use; {PORT_HINT}")
        time.sleep(0.2)
    command = (["taskset", "-c", str(cpu)] if cpu is not None else []) + argv
    p = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                         preexec_fn=die_with_parent, env=env)
    CHILDREN.append(p)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if p.poll() is not None:
            where = f" (log: {log.name})" if log else ""
            die(f"{name} exited with status {p.returncode} at start-up: {' '.join(command)}{where}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p
        except OSError:
            time.sleep(0.05)
    die(f"{name} did not accept connections on port {port} within 15 s")


def probe(name, port, path="/plaintext", body=b"Hello, World!"):
    """One GET `path`; returns the raw response (checked: 200, ends with the head and then `body`)."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        try:
            while b"\r\n\r\n" not in data or not data.endswith(body):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"\r\n\r\n" + body):
        die(f"{name} answered GET {path} with {data[:300]!r}")
    return data


def describe_server(name, p, response):
    """One line: pid, threads, and the response head a probe got."""
    threads = len(os.listdir(f"/proc/{p.pid}/task"))
    return (f"  {name:<11} pid {p.pid}, {threads} thread(s), {len(response)}-byte response: "
            + " | ".join(line.decode() for line in response.split(b"\r\n\r\n")[0].split(b"\r\n")))


def nginx_config(directory, port, worker_connections=4096, listen_options="", http_settings="", locations=None):
    """Writes directory/nginx.conf: one process that is the worker (master_process off), no access
    log, keep-alive without a request limit, one server on 127.0.0.1:`port` (`listen_options`,
    e.g. "ssl", and `http_settings` lines added). `locations`: the server's location blocks
    (default: GET /plaintext -> "Hello, World!" and GET /json -> {"message":"Hello, World!"})."""
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    os.makedirs(os.path.join(directory, "client_body_temp"), exist_ok=True)
    if locations is None:
        locations = """        location /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
        location /json {
            default_type application/json;
            return 200 '{"message":"Hello, World!"}';
        }"""
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""# Generated by bench/lib/benchutil.py for {PROGRAM}. One process that is the worker.
worker_processes 1;
worker_rlimit_nofile {worker_connections + 64};
daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log warn;

events {{
    worker_connections {worker_connections};
}}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body_temp;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
{http_settings}
    server {{
        listen 127.0.0.1:{port}{(" " + listen_options) if listen_options else ""};
{locations}
    }}
}}
""")
    return path


def nginx_argv(nginx, directory, conf):
    """nginx's command line for a config from nginx_config(), after checking it with `nginx -t`."""
    flags = ["-e", os.path.join(directory, "logs", "error.log"), "-p", directory, "-c", conf]
    t = subprocess.run([nginx, "-t", "-q"] + flags, capture_output=True, text=True)
    if t.returncode != 0:
        die(f"nginx -t rejected {conf}: {t.stderr.strip()}")
    return [nginx] + flags


# ---------------------------------------------------------------- one measured turn

def add_wrk_arguments(parser, reps, seconds, retry_budget, wait_quiet):
    """The options every wrk-driven runner shares (defaults differ per runner)."""
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--lua", default=os.path.join(here, "..", "http", "pipeline.lua"))
    parser.add_argument("--reps", type=int, default=reps, help="turns per server and workload")
    parser.add_argument("--seconds", type=int, default=seconds, help="wrk duration of a turn (whole seconds)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured wrk run per server and workload first (s)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--max-other", type=float, default=10,
                        help="a turn where other processes used more than this %% of the server's or wrk's CPU is "
                             "disturbed: it is run again (up to --retries times)")
    parser.add_argument("--retries", type=int, default=2, help="runs of a disturbed turn at most (on top of the first)")
    parser.add_argument("--retry-budget", type=float, default=retry_budget,
                        help="seconds spent on re-runs in all; beyond it disturbed turns are kept (and marked)")
    parser.add_argument("--retry-pause", type=float, default=5, help="seconds to wait before running a disturbed turn again")
    parser.add_argument("--wait-quiet", type=float, default=wait_quiet,
                        help="first wait up to this many seconds for both CPUs to be under 10 %% busy")


def parse_duration_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}[m.group(2)]


def run_wrk(args, server, port, depth, seconds, path="/plaintext", scheme="http", headers=()):
    url = f"{scheme}://127.0.0.1:{port}{path}"
    command = ["taskset", "-c", str(args.client_cpu), args.wrk, "-t1", f"-c{args.connections}",
               f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"] \
        + [arg for header in headers for arg in ("-H", header)] + ["-s", args.lua, url, "--", str(depth)]
    env = dict(os.environ, WRK_CONNECTIONS=str(args.connections))
    before_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, kernel0 = cpu_busy_ticks(), kernel_work_ticks(args.server_cpu)
    ticks0, ns0, t0 = cpu_ticks(server.pid), schedstat_ns(server.pid), time.monotonic()
    r = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, env=env)
    t1 = time.monotonic()
    if server.poll() is not None:
        die(f"server on port {port} exited with status {server.returncode} during {' '.join(command)}")
    ticks1, ns1 = cpu_ticks(server.pid), schedstat_ns(server.pid)
    busy1, kernel1 = cpu_busy_ticks(), kernel_work_ticks(args.server_cpu)
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
    core_s = (busy1[args.server_cpu] - busy0[args.server_cpu]) / CLK_TCK
    kernel_s = (kernel1 - kernel0) / CLK_TCK  # the server's sends' kernel work, charged to no process
    foreign_server = max(0.0, core_s - cpu_s - kernel_s)
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
        # The server's whole core (busy ticks of SERVER_CPU in /proc/stat): its process time
        # plus the kernel work its sends cause there but charge to no process (softirq run by
        # ksoftirqd), which on loopback moves from turn to turn. For bulk transfers.
        "server_core_s": core_s,
        "req_per_core_s": requests / core_s if core_s > 0 else float("nan"),
        "errors": errors,
        "other_on_server_cpu_pct": 100 * foreign_server / (t1 - t0),
        "other_on_client_cpu_pct": 100 * foreign_client / (t1 - t0),
    }


class RetryBudget:
    """Re-runs of disturbed turns so far, and the seconds they took (against args.retry_budget)."""

    def __init__(self):
        self.retried = 0
        self.seconds = 0.0


def measured_turn(args, budget, label, turn):
    """Runs `turn()` (one run_wrk) and returns its sample, marked `disturbed` when other processes
    took more than args.max_other % of the server's or wrk's CPU. A disturbed turn is run again,
    up to args.retries times, while `budget` allows; the last one is kept (and stays marked)."""
    for attempt in range(1 + args.retries):
        if attempt > 0:
            budget.retried += 1
        turn_started = time.monotonic()
        s = turn()
        if attempt > 0:
            budget.seconds += time.monotonic() - turn_started
        s["disturbed"] = int(max(s["other_on_server_cpu_pct"], s["other_on_client_cpu_pct"]) > args.max_other)
        if not s["disturbed"]:
            break
        if budget.seconds + args.seconds + args.retry_pause > args.retry_budget:
            attempt = args.retries  # budget spent: keep this one
        print(f"  {label}: disturbed (other processes took "
              f"{s['other_on_server_cpu_pct']:.0f} % of CPU {args.server_cpu}, "
              f"{s['other_on_client_cpu_pct']:.0f} % of CPU {args.client_cpu})"
              + ("; again" if attempt < args.retries else "; kept, marked disturbed"), flush=True)
        if attempt < args.retries:
            time.sleep(args.retry_pause)
            budget.seconds += args.retry_pause
        else:
            break
    return s


def turn_line(s):
    """The progress line's numbers for one turn."""
    return (f"{s['req_per_s']:>10,.0f} req/s, p50 {fmt_us(s['p50_us']):>8}, p99 {fmt_us(s['p99_us']):>8}, "
            f"server CPU {s['server_cpu_pct']:5.1f} %, {s['req_per_cpu_s']:>10,.0f} req/CPU-s, "
            f"wrk CPU {s['client_cpu_pct']:4.0f} %, others {s['other_on_server_cpu_pct']:.0f}/"
            f"{s['other_on_client_cpu_pct']:.0f} %" + (f", {s['errors']} ERRORS" if s["errors"] else ""))


# ---------------------------------------------------------------- back-to-back pairs

def run_pairs(args, budget, a, b, count, turn, fresh, record, label, title="", name=str):
    """`count` back-to-back turn pairs of the sides `a` and `b` (a first in the first pair, then
    the order alternating): the pairs bench-http and bench-peers judge their goals by. A side is
    whatever the callbacks take (a server's name; a server and a workload). Each pair runs inside
    `fresh(order)`, a context manager that starts the pair's servers fresh and gives each side its
    warm-up turn (in the runner's order, by the runner's means) and stops what it started when the
    pair ends; None keeps the processes. Each turn is `turn(side)` under measured_turn, labelled
    `label(side)` + " pair N", and is passed on to `record(side, N, sample)` (its CSV row). After
    each pair, one line: `title`, "pair N", `name(a)`'s and `name(b)`'s req per server-CPU-s, the
    ratio a/b and the wrk errors of either side. Returns the pairs as (sample of a, sample of b)."""
    pairs = []
    for pair in range(1, count + 1):
        order = (a, b) if pair % 2 else (b, a)
        got = {}
        with fresh(order) if fresh else contextlib.nullcontext():
            for side in order:
                got[side] = measured_turn(args, budget, f"{label(side)} pair {pair}", lambda: turn(side))
                record(side, pair, got[side])
        sa, sb = got[a], got[b]
        print(f"  {title}pair {pair}: {name(a)} {sa['req_per_cpu_s']:,.0f}, {name(b)} {sb['req_per_cpu_s']:,.0f} "
              f"req/CPU-s: {sa['req_per_cpu_s'] / sb['req_per_cpu_s']:.3f}×"
              + "".join(f", {name(side)} {s['errors']} ERRORS" for side, s in ((a, sa), (b, sb)) if s["errors"]),
              flush=True)
        pairs.append((sa, sb))
    return pairs


def pair_ratios(pairs, key="req_per_cpu_s"):
    """The sorted ratios a/b of `key` over back-to-back pairs (sample of a, sample of b)."""
    return sorted(a[key] / b[key] for a, b in pairs)


def pairs_verdict(goal, ratios, minimum, digits=3, what="back-to-back pairs", note=""):
    """A goal judged from back-to-back pairs: the median of their `ratios` (a/b, in any order)
    against `minimum`. Returns (the goal's text, `goal` followed by "median of N `what`"; the
    measured text, the median and the pairs' range to `digits` decimals, `note` added inside
    the parenthesis; "PASS" or "FAIL"; the median)."""
    ratios = sorted(ratios)
    ratio = median_of(ratios)
    return (f"{goal}, median of {len(ratios)} {what}",
            f"{ratio:.{digits}f}× (pairs {ratios[0]:.{digits}f}–{ratios[-1]:.{digits}f}{note})",
            "PASS" if ratio >= minimum else "FAIL", ratio)


# ---------------------------------------------------------------- summaries

def kept(samples):
    """The turns the medians use: the undisturbed ones when there are at least 3 (or all turns,
    with fewer repetitions), else every turn (the table says how many were disturbed)."""
    clean = [s for s in samples if not s["disturbed"]]
    return clean if len(clean) >= min(3, len(samples)) else samples


def med(samples, key):
    return statistics.median(s[key] for s in samples)


def median_of(values):
    """The median of a sorted non-empty list (of back-to-back pairs' ratios: the goals judged
    from pairs, in bench-http and bench-peers)."""
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def fmt_us(us):
    if us != us:  # NaN
        return "—"
    return f"{us:,.0f} µs" if us < 10_000 else f"{us / 1000:,.1f} ms"


def write_csv(path, fields, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def print_footer(args, budget, samples, started, outputs):
    """Re-runs, disturbed turns kept, how busy the CPUs were after the run, where the results went."""
    print(f"\n{budget.retried} re-run(s) ({budget.seconds:.0f} s of a {args.retry_budget:g} s budget) because other "
          f"processes used more than {args.max_other:g} % of the server's or wrk's CPU; turns kept although disturbed: "
          f"{sum(s['disturbed'] for ss in samples for s in ss)}; medians use the undisturbed turns when there "
          f"are at least 3 (column 'turns used')")
    busy = background_busy()
    print("\nbackground " + ", ".join(f"CPU {c} {p:.0f} %" for c, p in sorted(busy.items()))
          + f" busy over 1 s after the run; load {load_average()}")
    print(f"{outputs}; wall time {time.monotonic() - started:.0f} s")
