#!/usr/bin/env python3
"""The HTTP (plaintext) benchmark behind `make bench-http` / `make -C bench http`.

Six servers take turns (seven with --baseline), each with one worker pinned to one CPU
(SERVER_CPU), and two more serve the workers phase below; all answer `GET /plaintext` with
"Hello, World!" over keep-alive connections on 127.0.0.1:

  Spindle   Examples/Hello (`Hello --port P --workers 1`), release build, on io_uring
            (SPINDLE_IO=uring), with its metrics off (SPINDLE_METRICS=off, --admin-port 0), as
            every server below but `metrics`
  epoll     the same binary on the epoll backend (SPINDLE_IO=epoll)
  logged    the same binary on io_uring with its access log on (SPINDLE_ACCESS_LOG=on: request ids
            and one swift-log line per request, to the server's log file): the cost per request
            of the two built-in middleware everyone turns on
  metrics   the same binary on io_uring with its metrics on (the default: every request counted
            and timed) and its admin listener open (--admin-port PORT+8), scraped (GET /metrics)
            every second during its turns by a thread of this script: the cost of the metrics.
            Every other Hello runs with SPINDLE_METRICS=off and no admin listener, so "metrics
            on / off" is the metrics server against the Spindle one, compared in back-to-back
            pairs (--metrics-pairs) like the A/B below
  base      with --baseline: Hello built from another commit (BASELINE=<commit> in the Makefile),
            on io_uring: the A/B of a change to the io_uring path, interleaved in the same run
  nginx     nginx-light, generated config: worker_processes 1, master_process off (the one
            process is the worker; its PID is the one measured), access_log off,
            `return 200 "Hello, World!"`, keepalive_requests 1000000
  C         c-http-server.c: bare liburing responder (multishot accept, recv into a provided
            buffer ring, count `\\r\\n\\r\\n`, send that many canned responses); the per-core bound
  2-worker  the Spindle binary with --workers 2, on io_uring, metrics off, NOT pinned to one CPU:
            allowed on SERVER_CPU and CLIENT_CPU (taskset -c SERVER_CPU,CLIENT_CPU), so its two
            workers run on two cores (one of them wrk's)
  1-worker  the same with --workers 1 and the same two CPUs allowed: the 2-worker server's
            comparison, differing from it in the worker count only
  2-thread C, 1-thread C
            the C responder with 2 threads and with 1 (`c-http-server PORT THREADS`: each thread
            its own ring, buffers and SO_REUSEPORT listener, sharing nothing), allowed on the
            same two CPUs: what a second core gives a server whose threads share nothing on this
            machine with wrk on one of the cores, the floor the workers' ratio is read against

The load is wrk (one thread pinned to CLIENT_CPU, 64 connections) with pipeline.lua, at
pipelining depth 1 (plain keep-alive) and 16. Each server gets a 1 s warm-up per depth, then
the servers take turns (order rotated every repetition) for REPS repetitions of SECONDS each.
For every turn: requests/s (wrk), latency percentiles, and the server's utime+stime from
/proc/PID/stat (all threads) read just before wrk starts and just after it exits, giving
requests per server-CPU-second. A turn where other processes took more than --max-other % of
either CPU (/proc/stat busy time minus the server's and wrk's) is run again, within a time
budget; medians use the undisturbed turns when there are at least 3. Latency percentiles come
from pipeline.lua (wrk's own are wrong under pipelining). Medians over the repetitions; goals
(Spindle vs nginx) printed as PASS/FAIL; a CSV of every turn and median. With --baseline, the
rotation is followed by --ab-pairs back-to-back Spindle/base pairs per depth (order alternating,
--ab-seconds each): the A/B goal is the median of the pairs' ratios, since the machine's speed
drifts more between a server's rotation turns than between two adjacent turns. Before each pair
both of its servers are restarted (a fresh process each, then a --warmup turn): one process
kept for every turn carries one placement of its memory through all of them, and that bias
(up to 10-16 % on these VMs, seen between two processes of the same binary) would show in every
pair; fresh processes spread it over the pairs. --no-fresh-pairs keeps the processes.

The goals against the C responder are judged the same way: --c-pairs (10) back-to-back
Spindle/C pairs per depth after the rotation (fresh processes, --ab-seconds each), the median
of their ratios. The rotation keeps each server in one process for all its turns, so its
Spindle/C ratio carries both processes' placement biases (on 2026-12-06 the same binaries gave
0.84x and 0.78x at pipelining 16 in two runs, while fresh-process pairs of Spindle against its
own earlier build said 1.02x): it is printed as information.

After the rotation (and the A/B, metrics and Spindle/C pairs), two more phases, each of back-to-back pairs
(order alternating; the goal is the median of the pairs' ratios, for the same reason):

  workers   --workers-pairs (10) pairs per depth of the 2-worker and 1-worker servers,
            --ab-seconds each, wrk on CLIENT_CPU with 64 connections as always. Their turns
            are checked for disturbance over both CPUs together (other processes' share of the
            two CPUs' busy time, less the server's, wrk's and the kernel's unattributed work),
            since the servers run on wrk's CPU too. Goal at pipelining 1 (2 workers / 1 worker
            req per server-CPU-s ≥ 0.9×: a second core costs nothing per request); pipelining
            16 is printed without a goal. The same number of pairs of the 2-thread and 1-thread C
            responder follow, and a second line judges Spindle's ratio against theirs (÷ ≥ 0.9×):
            what the machine itself takes from a second core under this load (wrk sharing one,
            cross-core wake-ups on loopback) is in both and cancels; what Spindle's workers add by
            sharing anything (allocator, counters, cache lines) is not.
  conns     for each count in --conns-many (1,000 and 10,000; an empty value skips the phase):
            a warm-up of Spindle and C, then --conns-pairs (5) pairs of Spindle and C turns,
            --seconds each, wrk -t1 -cN on CLIENT_CPU at pipelining 1, the servers pinned to
            SERVER_CPU as in the rotation. A turn's server CPU runs from just before wrk starts
            until the server is idle again after wrk exits, so accepting and closing the N
            connections is counted as well as serving them. A thread counts the server's open
            descriptors (/proc/PID/fd) every half second: the peak less the count before the
            turn is the connections it held. Goal per count: Spindle/C req per server-CPU-s
            ≥ 0.95× ("many connections cost nothing extra"); a FAIL too when wrk reported
            errors (socket errors: connect, read, write, timeout; or non-2xx responses) or a
            server held fewer than N, which the measured column then says. RLIMIT_NOFILE is
            raised first (soft, and hard as root) to the largest count plus NOFILE_RESERVE for
            this script and everything it starts (wrk and the servers inherit it); Spindle
            derives its connection cap from it, and the cap it logs is checked.

Goals: Spindle against nginx (req per server-CPU-s ≥ 1× at pipelining 1 and ≥ 1.5× at 16, req/s
≥ nginx, p99 ≤ nginx), against the C responder (req per server-CPU-s ≥ 0.95× at pipelining 1 and
≥ 0.85× at 16, from the --c-pairs pairs; ≥ 0.95× at each --conns-many count, from the pairs),
epoll ≥ 0.9× nginx at pipelining 1, metrics on / off ≥ 0.97×, 2 workers / 1 worker ≥ 0.9× at
pipelining 1, and with --baseline io_uring ≥ 0.98× the baseline.

Standard library only. Exit status 0 when every measurement ran (a FAIL is a result), 1 when
something broke (a server died, a port was taken, wrk failed). See Docs/benchmarks/http.md.
"""
import argparse
import contextlib
import copy
import http.client
import os
import re
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import (CLK_TCK, RetryBudget, add_wrk_arguments, cpu_busy_ticks, cpu_ticks,  # noqa: E402
                       describe_server, die, fmt_us, install_cleanup, kept, kernel_work_ticks, kill_children,
                       measured_turn, med, median_of, nginx_argv, nginx_config, pair_ratios, pairs_verdict, port_free,
                       print_footer, print_header, probe, run_pairs, run_wrk, start_server, tool_version, turn_line,
                       write_csv)
import benchutil  # noqa: E402

benchutil.PROGRAM = "bench-http"
benchutil.PORT_HINT = "pick other ports with HTTP_PORT=... (make -C bench http HTTP_PORT=7450)"
SERVERS = ("Spindle", "epoll", "logged", "metrics", "nginx", "C")
# The workers phase's servers: not in the rotation, only in their back-to-back pairs.
WORKER_SERVERS = ("2-worker", "1-worker", "2-thread C", "1-thread C")
DEPTHS = (1, 16)
# Descriptors beyond the largest --conns-many count that RLIMIT_NOFILE must allow: Spindle keeps
# an eighth of its limit (at most 1,024) out of its connection cap for files, logs and its own
# rings; the rest is for wrk's and this script's own descriptors.
NOFILE_RESERVE = 2048
# Goals against the bare C responder: req per server-CPU-s, Spindle ÷ C.
C_GOAL = {1: 0.95, 16: 0.85}
CONNS_GOAL = 0.95  # the same at each --conns-many count (pipelining 1)
WORKERS_GOAL = 0.9  # 2 workers ÷ 1 worker at pipelining 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--c-server", required=True, help="c-http-server executable")
    parser.add_argument("--baseline", help="a Hello executable built from another commit (the A/B baseline)")
    parser.add_argument("--baseline-label", default="", help="what the baseline is (its commit), for the report")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--workdir", required=True, help="where the nginx config and the server logs go")
    parser.add_argument("--csv", default=os.path.join(here, "..", "out", "http.csv"))
    parser.add_argument("--port", type=int, default=7400, help="base port; uses PORT+1..PORT+12")
    add_wrk_arguments(parser, reps=5, seconds=5, retry_budget=60, wait_quiet=60)
    parser.add_argument("--ab-pairs", type=int, default=10,
                        help="with --baseline: back-to-back Spindle/base turn pairs per depth after the rotation (the A/B)")
    parser.add_argument("--ab-seconds", type=float, default=4, help="length of each A/B turn")
    parser.add_argument("--c-pairs", type=int, default=10,
                        help="back-to-back Spindle/C turn pairs per depth after the rotation (the goals against the "
                             "C responder; --ab-seconds each)")
    parser.add_argument("--metrics-pairs", type=int, default=10,
                        help="back-to-back Spindle/metrics turn pairs per depth after the rotation (metrics on / off)")
    parser.add_argument("--workers-pairs", type=int, default=10,
                        help="back-to-back 2-worker/1-worker turn pairs per depth after the rotation (--ab-seconds each)")
    parser.add_argument("--conns-many", default="1000,10000",
                        help="comma-separated connection counts of the many-connections phase (Spindle and C at "
                             "pipelining 1); an empty value skips it")
    parser.add_argument("--conns-pairs", type=int, default=5,
                        help="back-to-back Spindle/C turn pairs per --conns-many count (--seconds each)")
    parser.add_argument("--no-fresh-pairs", dest="fresh_pairs", action="store_false",
                        help="keep each server's process for its pairs (by default both servers of a pair are "
                             "restarted before it)")
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and depth, 1 s warm-up")
    args = parser.parse_args()
    try:
        args.conns_many = [int(n) for n in args.conns_many.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--conns-many takes comma-separated connection counts, not {args.conns_many!r}")
    if any(n < 1 for n in args.conns_many):
        parser.error("--conns-many: every connection count must be at least 1")
    if args.workers_pairs < 1 or args.c_pairs < 1 or (args.conns_many and args.conns_pairs < 1):
        parser.error("--workers-pairs, --c-pairs and --conns-pairs must be at least 1 (their goals are medians of pairs)")
    if args.quick:
        args.reps, args.seconds, args.warmup, args.ab_pairs, args.ab_seconds, args.metrics_pairs = 1, 1, 1, 1, 1, 1
        args.workers_pairs, args.conns_pairs, args.c_pairs = 1, 1, 1
    args.lua = os.path.abspath(args.lua)
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    install_cleanup()

    servers_run = SERVERS + (("base",) if args.baseline else ())
    all_servers = servers_run + WORKER_SERVERS
    # Before any server starts: they and wrk inherit the limit.
    nofile_needed = max(args.conns_many) + NOFILE_RESERVE if args.conns_many else 0
    nofile = raise_nofile(nofile_needed) if nofile_needed else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    started = time.monotonic()
    root = os.path.abspath(os.path.join(here, "..", ".."))
    print_header(args, root, "plaintext keep-alive, Spindle (io_uring, epoll) vs nginx vs C liburing (one worker on one core each)"
                 + (f"; A/B against {args.baseline_label or args.baseline}" if args.baseline else ""),
                 [tool_version([args.wrk, "--version"]), tool_version([args.nginx, "-v"])])
    print(f"samples    {args.reps} rotating turns per server and depth, {args.seconds:g} s each "
          f"(after a {args.warmup:g} s warm-up per server and depth); medians (min–max)")
    spread_cpus = f"{args.server_cpu},{args.client_cpu}"
    print(f"vs C       {args.c_pairs} back-to-back Spindle/C pairs per depth, {args.ab_seconds:g} s each, "
          f"{'fresh processes' if args.fresh_pairs else 'the same processes'}: the goals against the C responder")
    print(f"workers    {args.workers_pairs} back-to-back 2-worker/1-worker pairs per depth, {args.ab_seconds:g} s each; "
          f"both servers allowed on CPUs {spread_cpus} (not pinned to one), wrk on CPU {args.client_cpu}")
    if args.conns_many:
        print(f"conns      {', '.join(f'{n:,}' for n in args.conns_many)} connections at pipelining 1: "
              f"{args.conns_pairs} back-to-back Spindle/C pairs each, {args.seconds:g} s each; RLIMIT_NOFILE {nofile:,} "
              f"(needed {nofile_needed:,}); net.ipv4.tcp_tw_reuse {sysctl('net/ipv4/tcp_tw_reuse')}, "
              f"ip_local_port_range {sysctl('net/ipv4/ip_local_port_range')}")
        if nofile < nofile_needed:
            print(f"{benchutil.PROGRAM}: warning: RLIMIT_NOFILE is {nofile} and could not be raised to {nofile_needed} "
                  f"(not root?): the largest connection counts will fail", file=sys.stderr)
    else:
        print("conns      skipped (--conns-many is empty)")
    print()

    ports = {"Spindle": args.port + 1, "nginx": args.port + 2, "C": args.port + 3, "epoll": args.port + 4, "base": args.port + 5,
             "logged": args.port + 6, "metrics": args.port + 7, "2-worker": args.port + 9, "1-worker": args.port + 10,
             "2-thread C": args.port + 11, "1-thread C": args.port + 12}
    admin_port = args.port + 8
    logs = {name: open(os.path.join(workdir, f"{name.lower()}.log"), "w") for name in all_servers}
    nginx_dir = os.path.join(workdir, "nginx")
    no_admin = ["--admin-port", "0"]
    argv = {
        "Spindle": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["Spindle"]), "--workers", "1"] + no_admin,
        "nginx": nginx_argv(args.nginx, nginx_dir, nginx_config(nginx_dir, ports["nginx"])),
        "C": [args.c_server, str(ports["C"])],
        "epoll": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["epoll"]), "--workers", "1"] + no_admin,
        "base": [args.baseline or "", "--host", "127.0.0.1", "--port", str(ports["base"]), "--workers", "1"],
        "logged": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["logged"]), "--workers", "1"] + no_admin,
        "metrics": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["metrics"]), "--workers", "1",
                    "--admin-port", str(admin_port)],
        "2-worker": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["2-worker"]), "--workers", "2"] + no_admin,
        "1-worker": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["1-worker"]), "--workers", "1"] + no_admin,
        "2-thread C": [args.c_server, str(ports["2-thread C"]), "2"],
        "1-thread C": [args.c_server, str(ports["1-thread C"]), "1"],
    }
    # The baseline predates the metrics (it ignores SPINDLE_METRICS and --admin-port is given
    # only where the binary has it): every server but `metrics` runs without them.
    quiet = dict(os.environ, SPINDLE_ACCESS_LOG="off", SPINDLE_METRICS="off", SPINDLE_ADMIN_PORT="0")
    env = {"Spindle": dict(quiet, SPINDLE_IO="uring"), "epoll": dict(quiet, SPINDLE_IO="epoll"),
           "base": dict(quiet, SPINDLE_IO="uring"),
           "logged": dict(os.environ, SPINDLE_IO="uring", SPINDLE_ACCESS_LOG="on", SPINDLE_METRICS="off", SPINDLE_ADMIN_PORT="0"),
           "metrics": dict(os.environ, SPINDLE_IO="uring", SPINDLE_ACCESS_LOG="off", SPINDLE_METRICS="on"),
           "2-worker": dict(quiet, SPINDLE_IO="uring"), "1-worker": dict(quiet, SPINDLE_IO="uring")}
    # The workers phase's servers may run on both CPUs (the point of two workers); every other
    # server is pinned to SERVER_CPU.
    cpus = {name: spread_cpus if name in WORKER_SERVERS else args.server_cpu for name in all_servers}
    servers = {}
    for name in all_servers:
        servers[name] = start_server(name, argv[name], ports[name], cpus[name], logs[name], env=env.get(name))
    for name in all_servers:
        print(describe_server(name, servers[name], probe(name, ports[name])))
    if args.conns_many:
        # Spindle derives its connection cap from the descriptor limit it inherited (and raised to
        # its hard limit) and logs it: a cap below the largest count would answer 503 and close.
        cap = connection_cap(logs["Spindle"].name)
        if cap is None:
            print(f"{benchutil.PROGRAM}: warning: Spindle did not log its connection cap ({logs['Spindle'].name})",
                  file=sys.stderr)
        else:
            print(f"  Spindle connection cap: {cap:,} per worker (1 worker; the C responder takes descriptors up to "
                  f"65,535 within RLIMIT_NOFILE {nofile:,})")
            if cap < max(args.conns_many):
                print(f"{benchutil.PROGRAM}: warning: Spindle's cap of {cap:,} connections is below {max(args.conns_many):,}",
                      file=sys.stderr)
    scraper = Scraper(admin_port)
    try:
        scraper.scrape_once()  # the admin listener answers before any turn, or the run stops here
    except Exception as error:  # noqa: BLE001
        die(f"metrics: the admin listener on port {admin_port} does not answer: {error}")
    print(f"metrics    GET http://127.0.0.1:{admin_port}/metrics every {Scraper.INTERVAL:g} s during the metrics server's turns "
          f"({len(scraper.last_text):,} bytes)\n")

    def turn_of(name, depth, seconds):
        """One wrk run against `name`; the metrics server is scraped meanwhile."""
        if name in WORKER_SERVERS:
            return spread_turn(name, depth, seconds)
        if name != "metrics":
            return run_wrk(args, servers[name], ports[name], depth, seconds)
        with scraper.running():
            return run_wrk(args, servers[name], ports[name], depth, seconds)

    def spread_turn(name, depth, seconds):
        """One wrk run against a server allowed on both CPUs. run_wrk judges disturbance per CPU,
        for a server alone on SERVER_CPU and wrk alone on CLIENT_CPU: this server's work on
        CLIENT_CPU would count as another process's there. So the turn is judged over the two
        CPUs together instead: their busy time less the server's, wrk's and the kernel's work
        that no process is charged for (irq, softirq, ksoftirqd), as a share of both."""
        both = sorted({args.server_cpu, args.client_cpu})
        usage0, busy0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_busy_ticks(), time.monotonic()
        kernel0 = sum(kernel_work_ticks(cpu) for cpu in both)
        s = run_wrk(args, servers[name], ports[name], depth, seconds)
        usage1, busy1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_busy_ticks(), time.monotonic()
        kernel1 = sum(kernel_work_ticks(cpu) for cpu in both)
        wrk_s = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        busy_s = sum(busy1[cpu] - busy0[cpu] for cpu in both) / CLK_TCK
        other_s = max(0.0, busy_s - s["server_cpu_s"] - wrk_s - (kernel1 - kernel0) / CLK_TCK)
        # measured_turn reads these two fields; both get the share of the pair of CPUs.
        s["other_on_server_cpu_pct"] = s["other_on_client_cpu_pct"] = 100 * other_s / (len(both) * (t1 - t0))
        return s

    def many_turn(name, connections, seconds):
        """One wrk run with `connections` connections at pipelining 1 against `name` (pinned to
        SERVER_CPU). Opening and closing that many connections is part of what they cost, so the
        server's CPU is counted from just before wrk starts until the server is idle again after
        wrk exits (run_wrk stops counting when wrk exits, while the server is still closing
        them; that work would otherwise land in the server's next turn). The connections it held
        are the peak of its open descriptors during the run less the count before."""
        server = servers[name]
        many_args = copy.copy(args)
        many_args.connections = connections  # run_wrk's -c and pipeline.lua's WRK_CONNECTIONS
        descriptors_before = open_descriptors(server.pid)
        ticks0 = cpu_ticks(server.pid)
        with DescriptorWatch(server.pid) as watch:
            s = run_wrk(many_args, server, ports[name], 1, seconds)
        settle(server.pid)
        cpu_s = (cpu_ticks(server.pid) - ticks0) / CLK_TCK
        s.update(server_cpu_s=cpu_s, server_cpu_pct=100 * cpu_s / s["seconds"],
                 req_per_cpu_s=s["requests"] / cpu_s if cpu_s > 0 else float("nan"),
                 connections=connections, held=watch.peak - descriptors_before)
        return s

    for depth in DEPTHS:
        for name in servers_run:
            turn_of(name, depth, args.warmup)

    rows = []
    samples = {(name, depth): [] for name in servers_run for depth in DEPTHS}
    budget = RetryBudget()
    for rep in range(args.reps):
        shift = rep % len(servers_run)
        order = servers_run[shift:] + servers_run[:shift]
        for depth in DEPTHS:
            for name in order:
                label = f"pipeline {depth:>2}  {name:<7} turn {rep + 1}"
                s = measured_turn(args, budget, label, lambda: turn_of(name, depth, args.seconds))
                samples[(name, depth)].append(s)
                rows.append({"kind": "sample", "server": name, "pipeline": depth, "connections": args.connections,
                             "rep": rep + 1, **s})
                print(f"  {label}: {turn_line(s)}", flush=True)
    # The A/B: the rotation puts other servers' turns between Spindle's and the baseline's, and
    # this machine's speed drifts by 10-25 % over a minute, so the ratio of the two medians is
    # mostly drift. Back-to-back pairs (order alternating) see the same machine; the median of
    # the pairs' ratios is the A/B result.
    def restart(name):
        """Replaces `name`'s process with a fresh one (same command, CPU, port and log), once its
        port, and the metrics server's admin port, are free again."""
        servers[name].terminate()
        servers[name].wait()
        if name == "metrics":
            deadline = time.monotonic() + 10
            while not port_free(admin_port) and time.monotonic() < deadline:
                time.sleep(0.1)
        servers[name] = start_server(name, argv[name], ports[name], cpus[name], logs[name], env=env.get(name))
        probe(name, ports[name])

    def pair_turns(a, b, count, kind, depth, seconds, turn, where=""):
        """`count` back-to-back turn pairs of servers `a` and `b` at `depth` (order alternating;
        benchutil.run_pairs), each turn `turn(name, depth, seconds)`, both servers restarted and
        warmed up (a --warmup turn) before each pair unless --no-fresh-pairs; prints each pair's
        ratio a/b of req per server-CPU-s and returns the pairs as (sample of a, sample of b).
        `where` prefixes the labels (the connection count)."""
        @contextlib.contextmanager
        def fresh(order):
            """Each server of the pair, in the pair's order, restarted and then warmed up."""
            for name in order:
                restart(name)
                turn(name, depth, args.warmup)
            yield

        def record(name, pair, s):
            """The turn's CSV row."""
            rows.append({"kind": f"{kind.lower()}-sample", "server": name, "pipeline": depth, "rep": pair,
                         "connections": args.connections, **s})

        return run_pairs(args, budget, a, b, count, lambda name: turn(name, depth, seconds),
                         fresh if args.fresh_pairs else None, record,
                         label=lambda name: f"pipeline {depth:>2}  {where}{name:<7} {kind}",
                         title=f"pipeline {depth:>2}  {where}{kind} ")

    def pairs(a, b, count, kind):
        """`count` back-to-back turn pairs of servers `a` and `b` per depth, --ab-seconds each;
        the sorted ratios a/b of their req per server-CPU-s, by depth."""
        return {depth: pair_ratios(pair_turns(a, b, count, kind, depth, args.ab_seconds, turn_of)) for depth in DEPTHS}

    ab_ratios = pairs("Spindle", "base", args.ab_pairs, "A/B") if args.baseline else {depth: [] for depth in DEPTHS}
    metrics_ratios = pairs("metrics", "Spindle", args.metrics_pairs, "metrics")
    c_pair_ratios = pairs("Spindle", "C", args.c_pairs, "vsC")

    # Two workers against one, both allowed on both CPUs (warmed up here: their turns come last).
    for depth in DEPTHS:
        for name in WORKER_SERVERS:
            turn_of(name, depth, args.warmup)
    workers_pairs = {depth: pair_turns("2-worker", "1-worker", args.workers_pairs, "workers", depth, args.ab_seconds,
                                       turn_of) for depth in DEPTHS}
    c_threads_pairs = {depth: pair_turns("2-thread C", "1-thread C", args.workers_pairs, "threads", depth,
                                         args.ab_seconds, turn_of) for depth in DEPTHS}

    # Many connections: Spindle and C, pinned as in the rotation, at each count.
    conns_pairs = {}
    for connections in args.conns_many:
        for name in ("Spindle", "C"):
            many_turn(name, connections, args.warmup)
        conns_pairs[connections] = pair_turns(
            "Spindle", "C", args.conns_pairs, "conns", 1, args.seconds,
            lambda name, _depth, seconds: many_turn(name, connections, seconds), where=f"{connections:>6,} conns  ")
    for name in all_servers:
        servers[name].terminate()
    print(f"\nmetrics    {scraper.scrapes} scrapes, {scraper.failures} failed" + (f" (last: {scraper.last_error})" if scraper.failures else ""))

    # Table.
    print("\n| pipeline | server | req/s (median) | min–max | p50 | p99 | max | wrk p99 | server CPU | req per server-CPU-s (median) | min–max | wrk CPU | errors | turns used (disturbed) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for depth in DEPTHS:
        for name in servers_run:
            every = samples[(name, depth)]
            ss = kept(every)
            wrk_p99 = med(ss, "wrk_p99_us") if depth == 1 else float("nan")
            print(f"| {depth} | {name} | {med(ss, 'req_per_s'):,.0f} | {min(s['req_per_s'] for s in ss):,.0f}–"
                  f"{max(s['req_per_s'] for s in ss):,.0f} | {fmt_us(med(ss, 'p50_us'))} | {fmt_us(med(ss, 'p99_us'))} | {fmt_us(med(ss, 'max_us'))} | "
                  f"{fmt_us(wrk_p99)} | {med(ss, 'server_cpu_pct'):.0f} % | {med(ss, 'req_per_cpu_s'):,.0f} | "
                  f"{min(s['req_per_cpu_s'] for s in ss):,.0f}–{max(s['req_per_cpu_s'] for s in ss):,.0f} | "
                  f"{med(ss, 'client_cpu_pct'):.0f} % | {sum(s['errors'] for s in every)} | {len(ss)} of {len(every)} ({sum(s['disturbed'] for s in ss)}) |")
            rows.append({"kind": "median", "server": name, "pipeline": depth, "connections": args.connections,
                         **{k: med(ss, k) for k in ("requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us",
                                                    "max_us", "wrk_p50_us", "wrk_p99_us", "server_cpu_s",
                                                    "server_cpu_pct", "schedstat_cpu_s", "client_cpu_pct",
                                                    "req_per_cpu_s")},
                         "min": min(s["req_per_cpu_s"] for s in ss), "max": max(s["req_per_cpu_s"] for s in ss),
                         "errors": sum(s["errors"] for s in ss)})

    # The pairs' turns of the workers and many-connections phases, per server.
    phases = [("workers", depth, args.connections, name, [pair[i] for pair in pairs_of[depth]])
              for depth in DEPTHS for pairs_of, names in ((workers_pairs, WORKER_SERVERS[:2]), (c_threads_pairs, WORKER_SERVERS[2:]))
              for i, name in enumerate(names)]
    phases += [("conns", 1, connections, name, [pair[i] for pair in conns_pairs[connections]])
               for connections in args.conns_many for i, name in enumerate(("Spindle", "C"))]
    print("\n| phase | pipeline | connections | server | req/s (median) | p50 | p99 | server CPU | req per server-CPU-s (median) | min–max | wrk CPU | errors | held (fewest) | turns used (disturbed) |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for phase, depth, connections, name, every in phases:
        ss = kept(every)
        held = f"{min(s['held'] for s in every):,}" if phase == "conns" else "—"
        print(f"| {phase} | {depth} | {connections:,} | {name} | {med(ss, 'req_per_s'):,.0f} | {fmt_us(med(ss, 'p50_us'))} | "
              f"{fmt_us(med(ss, 'p99_us'))} | {med(ss, 'server_cpu_pct'):.0f} % | {med(ss, 'req_per_cpu_s'):,.0f} | "
              f"{min(s['req_per_cpu_s'] for s in ss):,.0f}–{max(s['req_per_cpu_s'] for s in ss):,.0f} | "
              f"{med(ss, 'client_cpu_pct'):.0f} % | {sum(s['errors'] for s in every)} | {held} | "
              f"{len(ss)} of {len(every)} ({sum(s['disturbed'] for s in ss)}) |")
        rows.append({"kind": f"{phase}-median", "server": name, "pipeline": depth, "connections": connections,
                     **{k: med(ss, k) for k in ("requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us",
                                                "max_us", "server_cpu_s", "server_cpu_pct", "client_cpu_pct",
                                                "req_per_cpu_s")},
                     "min": min(s["req_per_cpu_s"] for s in ss), "max": max(s["req_per_cpu_s"] for s in ss),
                     "errors": sum(s["errors"] for s in every),
                     **({"held": min(s["held"] for s in every)} if phase == "conns" else {})})

    goals, infos = [], []

    def pairs_goal(text, ratios, threshold, label, depth):
        """A goal judged from back-to-back pairs (benchutil.pairs_verdict): the median of their
        ratios `ratios` (a/b of req per server-CPU-s) against `threshold`, with the pairs' range."""
        goal, measured, result, ratio = pairs_verdict(text, ratios, threshold)
        goals.append((goal, measured, result, label, ratio, depth))

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
            rows.append({"kind": "ratio", "server": f"Spindle/C {key}", "pipeline": depth, "ratio": f"{ratio:.4f}"})
            if key == "req_per_cpu_s":
                infos.append((f"pipeline {depth}: Spindle/C {what}, ratio of the rotation's medians",
                              f"{ratio:.2f}× ({med(sp, key):,.0f} vs {med(c, key):,.0f})"))
            else:
                infos.append((f"pipeline {depth}: Spindle/C {what}", f"{ratio:.2f}×"))
        # The bare C responder is the per-core bound: what Spindle's HTTP layer costs on top,
        # from the back-to-back pairs of fresh processes.
        pairs_goal(f"pipeline {depth}: Spindle req per server-CPU-s ≥ {C_GOAL[depth]:g}× the C responder",
                   c_pair_ratios[depth], C_GOAL[depth], "Spindle/C", depth)
        ratio = med(ng, "req_per_cpu_s") / med(c, "req_per_cpu_s")
        infos.append((f"pipeline {depth}: nginx/C req per server-CPU-s", f"{ratio:.2f}×"))
        ep = kept(samples[("epoll", depth)])
        r_epoll = med(ep, "req_per_cpu_s") / med(ng, "req_per_cpu_s")
        if depth == 1:
            goals.append((f"pipeline {depth}: epoll backend req per server-CPU-s ≥ 0.9× nginx",
                          f"{r_epoll:.2f}× ({med(ep, 'req_per_cpu_s'):,.0f} vs {med(ng, 'req_per_cpu_s'):,.0f})",
                          "PASS" if r_epoll >= 0.9 else "FAIL", "epoll/nginx", r_epoll, depth))
        else:
            infos.append((f"pipeline {depth}: epoll/nginx req per server-CPU-s", f"{r_epoll:.2f}×"))
        infos.append((f"pipeline {depth}: epoll/io_uring req per server-CPU-s",
                      f"{med(ep, 'req_per_cpu_s') / med(sp, 'req_per_cpu_s'):.2f}×"))
        lg = kept(samples[("logged", depth)])
        cost_us = (1 / med(lg, "req_per_cpu_s") - 1 / med(sp, "req_per_cpu_s")) * 1e6
        infos.append((f"pipeline {depth}: access log + request id: logged/plain req per server-CPU-s, and CPU per request added",
                      f"{med(lg, 'req_per_cpu_s') / med(sp, 'req_per_cpu_s'):.2f}× ({med(lg, 'req_per_cpu_s'):,.0f} vs "
                      f"{med(sp, 'req_per_cpu_s'):,.0f}): +{cost_us:.2f} µs of server CPU per request"))
        mt = kept(samples[("metrics", depth)])
        infos.append((f"pipeline {depth}: metrics on / off req per server-CPU-s, ratio of the rotation's medians",
                      f"{med(mt, 'req_per_cpu_s') / med(sp, 'req_per_cpu_s'):.3f}× ({med(mt, 'req_per_cpu_s'):,.0f} vs "
                      f"{med(sp, 'req_per_cpu_s'):,.0f})"))
        pairs_goal(f"pipeline {depth}: metrics on / off req per server-CPU-s ≥ 0.97× (scraped every {Scraper.INTERVAL:g} s)",
                   metrics_ratios[depth], 0.97, "metrics/Spindle", depth)
        if args.baseline:
            base = kept(samples[("base", depth)])
            r_rotation = med(sp, "req_per_cpu_s") / med(base, "req_per_cpu_s")
            infos.append((f"pipeline {depth}: io_uring/baseline req per server-CPU-s, ratio of the rotation's medians",
                          f"{r_rotation:.3f}× ({med(sp, 'req_per_cpu_s'):,.0f} vs {med(base, 'req_per_cpu_s'):,.0f})"))
            pairs_goal(f"pipeline {depth}: io_uring req per server-CPU-s ≥ 0.98× the baseline ({args.baseline_label or 'base'})",
                       ab_ratios[depth], 0.98, "Spindle/base", depth)

    def workers_line(depth, text, measured, ratio, label):
        """A workers-phase ratio: the goal line (≥ WORKERS_GOAL) at pipelining 1, else an info
        line and a CSV row."""
        if depth == 1:
            goals.append((text.replace("req per server-CPU-s", f"req per server-CPU-s ≥ {WORKERS_GOAL:g}×", 1), measured,
                          "PASS" if ratio >= WORKERS_GOAL else "FAIL", label, ratio, depth))
        else:
            infos.append((text, measured))
            rows.append({"kind": "ratio", "server": f"{label} req_per_cpu_s", "pipeline": depth, "ratio": f"{ratio:.4f}"})

    for depth in DEPTHS:
        cpu_ratios = pair_ratios(workers_pairs[depth])
        r_workers = median_of(cpu_ratios)
        workers_line(depth, f"pipeline {depth}: 2 workers / 1 worker req per server-CPU-s (both allowed on CPUs {spread_cpus}, "
                            f"wrk on CPU {args.client_cpu}), median of {len(cpu_ratios)} back-to-back pairs",
                     f"{r_workers:.3f}× (pairs {cpu_ratios[0]:.3f}–{cpu_ratios[-1]:.3f})", r_workers, "2-worker/1-worker")
        rps_ratios = pair_ratios(workers_pairs[depth], "req_per_s")
        infos.append((f"pipeline {depth}: 2 workers / 1 worker req/s, median of the pairs",
                      f"{median_of(rps_ratios):.3f}× (pairs {rps_ratios[0]:.3f}–{rps_ratios[-1]:.3f})"))
        c_ratios = pair_ratios(c_threads_pairs[depth])
        r_c = median_of(c_ratios)
        infos.append((f"pipeline {depth}: the C responder's 2 threads / 1 thread req per server-CPU-s (same CPUs), "
                      f"median of {len(c_ratios)} back-to-back pairs", f"{r_c:.3f}× (pairs {c_ratios[0]:.3f}–{c_ratios[-1]:.3f})"))
        workers_line(depth, f"pipeline {depth}: Spindle's 2 workers / 1 worker ÷ the C responder's 2 threads / 1 thread, "
                            f"req per server-CPU-s (what a second core costs beyond this machine's own cost)",
                     f"{r_workers / r_c:.3f}× ({r_workers:.3f} ÷ {r_c:.3f})", r_workers / r_c, "workers/C-threads")
    for connections in args.conns_many:
        got = conns_pairs[connections]
        # Turns with wrk errors (a connection refused or reset, a timeout, a 503) or fewer
        # connections held than asked for did not measure `connections` connections: a FAIL
        # whatever the ratio.
        problems = []
        for i, name in enumerate(("Spindle", "C")):
            errors = sum(pair[i]["errors"] for pair in got)
            held = min(pair[i]["held"] for pair in got)
            if errors:
                problems.append(f"{name}: {errors:,} wrk errors (socket errors: connect, read, write, timeout; or non-2xx)")
            if held < connections:
                problems.append(f"{name} held only {held:,} of {connections:,} connections")
        sp = [pair[0] for pair in got]
        c = [pair[1] for pair in got]
        goal, measured, result, r_conns = pairs_verdict(
            f"{connections:,} connections, pipeline 1: Spindle req per server-CPU-s ≥ {CONNS_GOAL:g}× the C responder",
            pair_ratios(got), CONNS_GOAL, note=f"; {med(sp, 'req_per_cpu_s'):,.0f} vs {med(c, 'req_per_cpu_s'):,.0f}")
        goals.append((goal, measured + "".join(f"; {p}" for p in problems), "FAIL" if problems else result,
                      "Spindle/C", r_conns, 1, connections))

    print("\n| goal | measured | result |")
    print("|---|---|---|")
    for goal, measured, result, *_ in goals:
        print(f"| {goal} | {measured} | {result} |")
    for goal, measured in infos:
        print(f"| {goal} (no goal) | {measured} | — |")
    print()
    for goal, measured, result, who, ratio, depth, *connections in goals:
        print(f"{result}  {goal}: {measured}")
        rows.append({"kind": "goal", "server": who, "pipeline": depth, "connections": (connections or [args.connections])[0],
                     "ratio": f"{ratio:.4f}", "result": result})
    for goal, measured in infos:
        print(f"info  {goal}: {measured}")

    fields = ["kind", "server", "pipeline", "connections", "rep", "requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us",
              "max_us", "samples", "wrk_p50_us", "wrk_p99_us", "server_cpu_s", "server_cpu_pct", "schedstat_cpu_s",
              "client_cpu_pct", "req_per_cpu_s", "min", "max", "errors", "other_on_server_cpu_pct",
              "other_on_client_cpu_pct", "disturbed", "held", "ratio", "result", "wall_s"]
    write_csv(args.csv, fields, rows)
    kill_children()
    print_footer(args, budget, samples.values(), started, f"CSV written to {args.csv}")


def raise_nofile(needed):
    """Raises this process's RLIMIT_NOFILE (soft and, as root, hard) to at least `needed`; wrk and
    the servers started afterwards inherit it (the idea of bench/peers/idle.py's, which dies
    instead). Returns the soft limit in force: below `needed` when it could not be raised that
    far, which the run reports and the many-connection goals then fail on."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (needed, hard if hard == resource.RLIM_INFINITY or hard >= needed else needed))
    except (ValueError, OSError):  # raising the hard limit needs root (CAP_SYS_RESOURCE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sysctl(name):
    """A /proc/sys value (name like net/ipv4/tcp_tw_reuse), whitespace collapsed, or "?"."""
    try:
        with open(f"/proc/sys/{name}") as f:
            return " ".join(f.read().split())
    except OSError:
        return "?"


def connection_cap(log_path, wait=5.0):
    """The connection cap per worker a Spindle server logged at start ("up to N connections per
    worker"), or None. Worker 0 logs it once running, which may be just after the port answers."""
    deadline = time.monotonic() + wait
    while True:
        with open(log_path, errors="replace") as f:
            m = re.search(r"up to (\d+) connections per worker", f.read())
        if m or time.monotonic() > deadline:
            return int(m.group(1)) if m else None
        time.sleep(0.1)


def open_descriptors(pid):
    """How many descriptors process `pid` has open (/proc/PID/fd)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def settle(pid, quiet=0.3, limit=10.0):
    """Waits until process `pid` has used no CPU for `quiet` seconds (at most `limit` seconds):
    after a many-connection turn, until the server has closed its side of every connection."""
    deadline = time.monotonic() + limit
    last, still_since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = cpu_ticks(pid)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return


class DescriptorWatch:
    """Counts a server's open descriptors every INTERVAL seconds from a thread while entered (a
    context manager); `peak` is the largest count seen. Listing 10,000 descriptors takes a few
    ms, so this costs the benchmark CPUs ~1 %."""
    INTERVAL = 0.5

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        try:
            self.peak = max(self.peak, open_descriptors(self.pid))
        except OSError:  # the server exited: run_wrk reports that
            pass

    def _loop(self):
        while not self._stop.wait(self.INTERVAL):
            self._sample()

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="descriptor-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


class Scraper:
    """Scrapes the metrics server's admin listener every INTERVAL seconds from a thread, while
    `running()` is entered (its turns). A failed scrape is counted and reported, not fatal."""
    INTERVAL = 1.0

    def __init__(self, port):
        self.port = port
        self.scrapes = 0
        self.failures = 0
        self.last_error = ""
        self.last_text = b""
        self._stop = threading.Event()

    def scrape_once(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /metrics: {response.status} {body[:200]!r}")
            self.last_text = body
            self.scrapes += 1
        finally:
            connection.close()

    def _loop(self):
        while not self._stop.wait(self.INTERVAL):
            try:
                self.scrape_once()
            except Exception as error:  # noqa: BLE001 (reported at the end)
                self.failures += 1
                self.last_error = str(error)

    @contextlib.contextmanager
    def running(self):
        self._stop.clear()
        thread = threading.Thread(target=self._loop, name="metrics-scraper", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()


if __name__ == "__main__":
    main()
