#!/usr/bin/env python3
"""The peers benchmark behind `make bench-peers` / `make -C bench peers`: Spindle beside the
servers a user would otherwise pick, one worker each, on the same CPU, under the same load.

Servers (bench/peers/servers.py): Spindle (Examples/Hello, --workers 1), nginx (nginx-light,
one process), h2o (num-threads 1), Go net/http (GOMAXPROCS=1), Hummingbird 2 (one event-loop
thread), gevent (pywsgi, one process). All run at once, each pinned to SERVER_CPU; they idle at
~0 CPU while another is measured.

Workloads, each with wrk -t1 pinned to CLIENT_CPU, 64 keep-alive connections, bench/http/pipeline.lua:
  plaintext       GET /plaintext -> "Hello, World!", pipelining 1
  json            GET /json -> {"message":"Hello, World!"}, pipelining 1
  plaintext x16   GET /plaintext, 16 requests pipelined per write
After a 1 s warm-up per server and workload, the servers take turns (order rotated each
repetition), REPS repetitions of SECONDS each: req/s, latency p50/p90/p99 (pipeline.lua's, right
under pipelining), the server's CPU time (/proc/PID/stat, all threads) and so requests per
server-CPU-second. A turn where other processes took more than --max-other % of either CPU is
run again within a small time budget (bench/lib/benchutil.py). Medians over the repetitions.

Idle memory (bench/peers/idle.py): IDLE keep-alive connections (10,000) that each made one
request, VmRSS growth per connection; a server that cannot hold them all is reported as such.

Goals, measured in this run, printed as PASS/FAIL (per server-CPU-second, plaintext): Spindle
≥ 1.0× nginx at pipelining 1, ≥ 1.5× nginx at 16, ≥ 2× Go net/http, ≥ 5× Hummingbird; Spindle's
idle keep-alive memory ≤ 1 KiB per connection.

Output: the progress and tables on stdout; out/peers.csv (every turn, medians, idle, goals),
out/peers.md (Markdown tables), out/peers-*.png (matplotlib plots). Exit status 0 when every
measurement ran (a FAIL is a result), 1 when something broke. See Docs/benchmarks/peers.md.
"""
import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import (RetryBudget, add_wrk_arguments, describe_server, install_cleanup, kept,  # noqa: E402
                       kill_children, measured_turn, med, print_footer, print_header, probe, run_wrk,
                       start_server, turn_line)
import benchutil  # noqa: E402
import idle  # noqa: E402
import report  # noqa: E402
from servers import JSON, PLAINTEXT, SERVERS, commands  # noqa: E402

benchutil.PROGRAM = "bench-peers"
benchutil.PORT_HINT = "pick other ports with PEERS_PORT=... (make -C bench peers PEERS_PORT=7550)"

Workload = collections.namedtuple("Workload", "name path depth")
WORKLOADS = (Workload("plaintext", "/plaintext", 1), Workload("json", "/json", 1),
             Workload("plaintext x16", "/plaintext", 16))
# (label, workload, peer, minimum ratio of Spindle's req per server-CPU-s over the peer's)
CPU_GOALS = (("plaintext keep-alive", "plaintext", "nginx", 1.0),
             ("plaintext pipelining 16", "plaintext x16", "nginx", 1.5),
             ("plaintext keep-alive", "plaintext", "Go", 2.0),
             ("plaintext keep-alive", "plaintext", "Hummingbird", 5.0))
IDLE_GOAL_KIB = 1.0


def parse_arguments():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "out")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--hummingbird", required=True, help="hummingbird-peer executable")
    parser.add_argument("--go-peer", required=True, help="http-peer executable (bench/go/httppeer.go)")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--h2o", default="/usr/bin/h2o")
    parser.add_argument("--python", default=sys.executable, help="the Python that has gevent")
    parser.add_argument("--core", help="the checkout Hello was built from (default: this repository)")
    parser.add_argument("--workdir", required=True, help="where configs and server logs go")
    parser.add_argument("--out", default=out, help="directory of peers.csv, peers.md and the plots")
    parser.add_argument("--name", default="peers", help="file name stem of the outputs")
    parser.add_argument("--port", type=int, default=7500, help="base port; uses PORT+1..PORT+6")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--idle-batch", type=int, default=200, help="connections opened before waiting for responses")
    add_wrk_arguments(parser, reps=3, seconds=4, retry_budget=10, wait_quiet=5)
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and workload: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup = 1, 1, 1
    args.lua = os.path.abspath(args.lua)
    return args


def start_servers(args, workdir):
    ports = {name: args.port + 1 + i for i, name in enumerate(SERVERS)}
    servers = {}
    for name, (argv, env) in commands(args, workdir, ports).items():
        log = open(os.path.join(workdir, f"{name.lower()}.log"), "w")
        servers[name] = start_server(name, argv, ports[name], args.server_cpu, log, env=env)
    for name in SERVERS:
        probe(name, ports[name], "/json", JSON)
        print(describe_server(name, servers[name], probe(name, ports[name], "/plaintext", PLAINTEXT)))
    return servers, ports


def run_turns(args, servers, ports):
    """Warm-ups, then REPS rotating turns; returns {(server, workload name): [samples]} and CSV rows."""
    def turn(name, w, seconds):
        return run_wrk(args, servers[name], ports[name], w.depth, seconds, w.path)

    for w in WORKLOADS:
        for name in SERVERS:
            turn(name, w, args.warmup)
    print(f"  warm-ups done ({args.warmup} s per server and workload)", flush=True)
    samples = {(name, w.name): [] for name in SERVERS for w in WORKLOADS}
    rows = []
    budget = RetryBudget()
    total, done = args.reps * len(WORKLOADS) * len(SERVERS), 0
    for rep in range(args.reps):
        shift = rep % len(SERVERS)
        order = SERVERS[shift:] + SERVERS[:shift]
        for w in WORKLOADS:
            for name in order:
                done += 1
                label = f"[{done:>2}/{total}] {w.name:<13} {name:<11} turn {rep + 1}"
                s = measured_turn(args, budget, label, lambda: turn(name, w, args.seconds))
                samples[(name, w.name)].append(s)
                rows.append({"kind": "sample", "server": name, "workload": w.name, "pipeline": w.depth,
                             "rep": rep + 1, **s})
                print(f"  {label}: {turn_line(s)}", flush=True)
    return samples, rows, budget


def run_idle(args, servers, ports):
    results = {}
    for name in SERVERS:
        r = idle.hold_idle(servers[name], ports[name], args.idle_connections, args.idle_batch, args.client_cpu)
        results[name] = r
        print(f"  idle {name:<11} held {r['held']:>6,} of {r['connections']:,} in {r['open_s']:.1f} s, "
              f"RSS {r['rss_before_kib']:,} -> {r['rss_after_kib']:,} KiB, {r['kib_per_connection']:.2f} KiB per "
              f"connection" + (f" (not held: {r['failures']})" if r["failures"] else ""), flush=True)
    return results


def medians(samples):
    keys = ("requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us", "max_us", "server_cpu_s",
            "server_cpu_pct", "schedstat_cpu_s", "client_cpu_pct", "req_per_cpu_s")
    result = {}
    for (name, workload), every in samples.items():
        ss = kept(every)
        result[(name, workload)] = {
            **{k: med(ss, k) for k in keys},
            "rps_min": min(s["req_per_s"] for s in ss), "rps_max": max(s["req_per_s"] for s in ss),
            "cpu_min": min(s["req_per_cpu_s"] for s in ss), "cpu_max": max(s["req_per_cpu_s"] for s in ss),
            "errors": sum(s["errors"] for s in every), "used": len(ss), "turns": len(every),
            "disturbed": sum(s["disturbed"] for s in ss),
        }
    return result


def goals(summary, idle_results, idle_connections):
    """[(goal, measured, PASS/FAIL, ratio or KiB)] for the issue's goals."""
    result = []
    for label, workload, peer, minimum in CPU_GOALS:
        sp, other = summary[("Spindle", workload)]["req_per_cpu_s"], summary[(peer, workload)]["req_per_cpu_s"]
        ratio = sp / other
        result.append((f"{label}: Spindle req per server-CPU-s ≥ {minimum:g}× {peer}",
                       f"{ratio:.2f}× ({sp:,.0f} vs {other:,.0f})", "PASS" if ratio >= minimum else "FAIL", ratio))
    r = idle_results["Spindle"]
    kib = r["kib_per_connection"]
    held_all = r["held"] == idle_connections
    result.append((f"idle keep-alive: Spindle ≤ {IDLE_GOAL_KIB:g} KiB RSS per connection ({idle_connections:,} held)",
                   f"{kib:.2f} KiB, {r['held']:,} of {idle_connections:,} held",
                   "PASS" if held_all and kib <= IDLE_GOAL_KIB else "FAIL", kib))
    return result


def main():
    args = parse_arguments()
    report.check_plotting()
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    nofile = idle.raise_nofile(args.idle_connections + 4096)  # before any server starts: they inherit it
    install_cleanup()
    started = time.monotonic()
    root = os.path.abspath(args.core or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    header = print_header(args, root, "Spindle beside nginx, h2o, Go net/http, Hummingbird 2 and gevent "
                          "(one worker on one core each)",
                          report.tool_versions(args))
    header.append(("samples", f"{args.reps} rotating turns per server and workload, {args.seconds:g} s each (after a "
                              f"{args.warmup:g} s warm-up per server and workload); medians (min–max); idle test "
                              f"{args.idle_connections:,} connections (RLIMIT_NOFILE {nofile})"))
    print(f"{'samples':<10} {header[-1][1]}\n")
    servers, ports = start_servers(args, workdir)
    print()
    samples, rows, budget = run_turns(args, servers, ports)
    idle_results = run_idle(args, servers, ports)
    for name in SERVERS:
        servers[name].terminate()

    summary = medians(samples)
    outcome = goals(summary, idle_results, args.idle_connections)
    paths = report.write_all(args, header, [w.name for w in WORKLOADS], SERVERS, summary, idle_results,
                             outcome, rows)
    kill_children()
    print_footer(args, budget, samples.values(), started, "written: " + ", ".join(paths))


if __name__ == "__main__":
    main()
