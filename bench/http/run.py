#!/usr/bin/env python3
"""The HTTP (plaintext) benchmark behind `make bench-http` / `make -C bench http`.

Four servers (five with --baseline), each with one worker pinned to one CPU (SERVER_CPU), answer
`GET /plaintext` with "Hello, World!" over keep-alive connections on 127.0.0.1:

  Spindle   Examples/Hello (`Hello --port P --workers 1`), release build, on io_uring
            (SPINDLE_IO=uring)
  epoll     the same binary on the epoll backend (SPINDLE_IO=epoll)
  logged    the same binary on io_uring with its access log on (SPINDLE_ACCESS_LOG=on: request ids
            and one swift-log line per request, to the server's log file): the cost per request
            of the two built-in middleware everyone turns on
  base      with --baseline: Hello built from another commit (BASELINE=<commit> in the Makefile),
            on io_uring: the A/B of a change to the io_uring path, interleaved in the same run
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
(Spindle vs nginx) printed as PASS/FAIL; a CSV of every turn and median. With --baseline, the
rotation is followed by --ab-pairs back-to-back Spindle/base pairs per depth (order alternating,
--ab-seconds each): the A/B goal is the median of the pairs' ratios, since the machine's speed
drifts more between a server's rotation turns than between two adjacent turns.

Standard library only. Exit status 0 when every measurement ran (a FAIL is a result), 1 when
something broke (a server died, a port was taken, wrk failed). See Docs/benchmarks/http.md.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import (RetryBudget, add_wrk_arguments, describe_server, fmt_us, install_cleanup,  # noqa: E402
                       kept, kill_children, measured_turn, med, nginx_argv, nginx_config, print_footer,
                       print_header, probe, run_wrk, start_server, tool_version, turn_line, write_csv)
import benchutil  # noqa: E402

benchutil.PROGRAM = "bench-http"
benchutil.PORT_HINT = "pick other ports with HTTP_PORT=... (make -C bench http HTTP_PORT=7450)"
SERVERS = ("Spindle", "epoll", "logged", "nginx", "C")
DEPTHS = (1, 16)


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
    parser.add_argument("--port", type=int, default=7400, help="base port; uses PORT+1..PORT+3")
    add_wrk_arguments(parser, reps=5, seconds=5, retry_budget=60, wait_quiet=60)
    parser.add_argument("--ab-pairs", type=int, default=10,
                        help="with --baseline: back-to-back Spindle/base turn pairs per depth after the rotation (the A/B)")
    parser.add_argument("--ab-seconds", type=float, default=4, help="length of each A/B turn")
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and depth, 1 s warm-up")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup, args.ab_pairs, args.ab_seconds = 1, 1, 1, 1, 1
    args.lua = os.path.abspath(args.lua)
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    install_cleanup()

    servers_run = SERVERS + (("base",) if args.baseline else ())
    started = time.monotonic()
    root = os.path.abspath(os.path.join(here, "..", ".."))
    print_header(args, root, "plaintext keep-alive, Spindle (io_uring, epoll) vs nginx vs C liburing (one worker on one core each)"
                 + (f"; A/B against {args.baseline_label or args.baseline}" if args.baseline else ""),
                 [tool_version([args.wrk, "--version"]), tool_version([args.nginx, "-v"])])
    print(f"samples    {args.reps} rotating turns per server and depth, {args.seconds:g} s each "
          f"(after a {args.warmup:g} s warm-up per server and depth); medians (min–max)\n")

    ports = {"Spindle": args.port + 1, "nginx": args.port + 2, "C": args.port + 3, "epoll": args.port + 4, "base": args.port + 5,
             "logged": args.port + 6}
    logs = {name: open(os.path.join(workdir, f"{name.lower()}.log"), "w") for name in servers_run}
    nginx_dir = os.path.join(workdir, "nginx")
    argv = {
        "Spindle": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["Spindle"]), "--workers", "1"],
        "nginx": nginx_argv(args.nginx, nginx_dir, nginx_config(nginx_dir, ports["nginx"])),
        "C": [args.c_server, str(ports["C"])],
        "epoll": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["epoll"]), "--workers", "1"],
        "base": [args.baseline or "", "--host", "127.0.0.1", "--port", str(ports["base"]), "--workers", "1"],
        "logged": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["logged"]), "--workers", "1"],
    }
    quiet = dict(os.environ, SPINDLE_ACCESS_LOG="off")
    env = {"Spindle": dict(quiet, SPINDLE_IO="uring"), "epoll": dict(quiet, SPINDLE_IO="epoll"),
           "base": dict(quiet, SPINDLE_IO="uring"), "logged": dict(os.environ, SPINDLE_IO="uring", SPINDLE_ACCESS_LOG="on")}
    servers = {}
    for name in servers_run:
        servers[name] = start_server(name, argv[name], ports[name], args.server_cpu, logs[name], env=env.get(name))
    for name in servers_run:
        print(describe_server(name, servers[name], probe(name, ports[name])))
    print()

    for depth in DEPTHS:
        for name in servers_run:
            run_wrk(args, servers[name], ports[name], depth, args.warmup)

    rows = []
    samples = {(name, depth): [] for name in servers_run for depth in DEPTHS}
    budget = RetryBudget()
    for rep in range(args.reps):
        shift = rep % len(servers_run)
        order = servers_run[shift:] + servers_run[:shift]
        for depth in DEPTHS:
            for name in order:
                label = f"pipeline {depth:>2}  {name:<7} turn {rep + 1}"
                s = measured_turn(args, budget, label,
                                  lambda: run_wrk(args, servers[name], ports[name], depth, args.seconds))
                samples[(name, depth)].append(s)
                rows.append({"kind": "sample", "server": name, "pipeline": depth, "rep": rep + 1, **s})
                print(f"  {label}: {turn_line(s)}", flush=True)
    # The A/B: the rotation puts other servers' turns between Spindle's and the baseline's, and
    # this machine's speed drifts by 10-25 % over a minute, so the ratio of the two medians is
    # mostly drift. Back-to-back pairs (order alternating) see the same machine; the median of
    # the pairs' ratios is the A/B result.
    ab_ratios = {depth: [] for depth in DEPTHS}
    if args.baseline:
        for depth in DEPTHS:
            for pair in range(args.ab_pairs):
                order = ("Spindle", "base") if pair % 2 == 0 else ("base", "Spindle")
                got = {}
                for name in order:
                    label = f"pipeline {depth:>2}  {name:<7} A/B pair {pair + 1}"
                    s = measured_turn(args, budget, label,
                                      lambda: run_wrk(args, servers[name], ports[name], depth, args.ab_seconds))
                    got[name] = s
                    rows.append({"kind": "ab-sample", "server": name, "pipeline": depth, "rep": pair + 1, **s})
                ratio = got["Spindle"]["req_per_cpu_s"] / got["base"]["req_per_cpu_s"]
                ab_ratios[depth].append(ratio)
                print(f"  pipeline {depth:>2}  A/B pair {pair + 1}: Spindle {got['Spindle']['req_per_cpu_s']:,.0f}, "
                      f"base {got['base']['req_per_cpu_s']:,.0f} req/CPU-s: {ratio:.3f}×", flush=True)
    for name in servers_run:
        servers[name].terminate()

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
        if args.baseline:
            base = kept(samples[("base", depth)])
            r_rotation = med(sp, "req_per_cpu_s") / med(base, "req_per_cpu_s")
            infos.append((f"pipeline {depth}: io_uring/baseline req per server-CPU-s, ratio of the rotation's medians",
                          f"{r_rotation:.3f}× ({med(sp, 'req_per_cpu_s'):,.0f} vs {med(base, 'req_per_cpu_s'):,.0f})"))
            pairs = sorted(ab_ratios[depth])
            r_base = pairs[len(pairs) // 2] if len(pairs) % 2 else (pairs[len(pairs) // 2 - 1] + pairs[len(pairs) // 2]) / 2
            goals.append((f"pipeline {depth}: io_uring req per server-CPU-s ≥ 0.98× the baseline ({args.baseline_label or 'base'}), "
                          f"median of {len(pairs)} back-to-back pairs",
                          f"{r_base:.3f}× (pairs {pairs[0]:.3f}–{pairs[-1]:.3f})",
                          "PASS" if r_base >= 0.98 else "FAIL", "Spindle/base", r_base, depth))

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

    fields = ["kind", "server", "pipeline", "rep", "requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us",
              "max_us", "samples", "wrk_p50_us", "wrk_p99_us", "server_cpu_s", "server_cpu_pct", "schedstat_cpu_s",
              "client_cpu_pct", "req_per_cpu_s", "min", "max", "errors", "other_on_server_cpu_pct",
              "other_on_client_cpu_pct", "disturbed", "ratio", "result", "wall_s"]
    write_csv(args.csv, fields, rows)
    kill_children()
    print_footer(args, budget, samples.values(), started, f"CSV written to {args.csv}")


if __name__ == "__main__":
    main()
