#!/usr/bin/env python3
"""The static-file benchmark behind `make bench-static` / `make -C bench static`.

Two servers, one worker each pinned to SERVER_CPU, serve the same files of a directory made for
the run (random bytes, in the page cache after the warm-up):

  Spindle   Examples/Hello --static DIR (StaticFiles middleware under /static), release build,
            on io_uring, access log off: 4 KiB files from each worker's memory cache, sent
            with the head; 1 MiB files spliced from the page cache to the socket
  nginx     nginx-light, one process that is the worker, access_log off, `location /static/
            { alias DIR/; }` with sendfile on, tcp_nopush on (nginx's usual static setup)

The load is wrk (one thread on CLIENT_CPU, 64 connections, keep-alive, no pipelining) fetching
/static/4k.bin, then /static/1m.bin. The servers take turns (order alternating) for REPS rounds
of SECONDS each per file; per turn: requests/s, requests per process-CPU-second (utime+stime
from /proc/PID/stat) and requests per server-core-second (the busy time of SERVER_CPU in
/proc/stat, where the server runs alone). The goal of the open issue: Spindle ≥ 1.0× nginx per
server-CPU-second for both sizes, judged per server-core-second: on loopback, the TCP work of
the bytes a server sends runs in softirqs on its core that are charged to it or to no process
(ksoftirqd), from turn to turn; for 1 MiB files that is most of the CPU, and the process figure
of the same server moved by 2× between turns. Printed as PASS/FAIL with the medians, the
process-CPU ratio beside it. See Docs/benchmarks/static.md.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import (RetryBudget, add_wrk_arguments, describe_server, install_cleanup, kept,  # noqa: E402
                       measured_turn, med, nginx_argv, nginx_config, print_footer, print_header, probe, run_wrk, start_server,
                       tool_version, turn_line, write_csv)
import benchutil  # noqa: E402

benchutil.PROGRAM = "bench-static"
benchutil.PORT_HINT = "pick other ports with STATIC_PORT=... (make -C bench static STATIC_PORT=7650)"
FILES = (("4k.bin", 4 << 10), ("1m.bin", 1 << 20))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--csv", default=os.path.join(here, "..", "out", "static.csv"))
    parser.add_argument("--port", type=int, default=7600)
    add_wrk_arguments(parser, reps=4, seconds=4, retry_budget=40, wait_quiet=60)
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and file")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup = 1, 1, 1
    args.lua = os.path.abspath(args.lua)
    workdir = os.path.abspath(args.workdir)
    root = os.path.join(workdir, "files")
    os.makedirs(root, exist_ok=True)
    for name, size in FILES:
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    install_cleanup()
    started = time.monotonic()
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    print_header(args, repo, "static files, Spindle's StaticFiles vs nginx (sendfile), one worker on one core each",
                 [tool_version([args.wrk, "--version"]), tool_version([args.nginx, "-v"])])
    ports = {"Spindle": args.port + 1, "nginx": args.port + 2}
    logs = {name: open(os.path.join(workdir, f"{name.lower()}.log"), "w") for name in ports}
    nginx_dir = os.path.join(workdir, "nginx")
    argv = {
        "Spindle": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["Spindle"]), "--workers", "1", "--static", root],
        "nginx": nginx_argv(args.nginx, nginx_dir, nginx_config(
            nginx_dir, ports["nginx"], http_settings="    sendfile on;\n    tcp_nopush on;\n    default_type application/octet-stream;",
            locations=f"        location /static/ {{ alias {root}/; }}")),
    }
    env = {"Spindle": dict(os.environ, SPINDLE_IO="uring", SPINDLE_ACCESS_LOG="off")}
    servers = {name: start_server(name, argv[name], ports[name], args.server_cpu, logs[name], env=env.get(name))
               for name in ports}
    with open(os.path.join(root, "4k.bin"), "rb") as f:
        small = f.read()
    for name in ports:
        print(describe_server(name, servers[name], probe(name, ports[name], path="/static/4k.bin", body=small)[:200]))
    print()
    for name in ports:
        for file, _ in FILES:
            run_wrk(args, servers[name], ports[name], 1, args.warmup, path=f"/static/{file}")
    samples = {(name, file): [] for name in ports for file, _ in FILES}
    rows = []
    budget = RetryBudget()
    for rep in range(args.reps):
        order = list(ports) if rep % 2 == 0 else list(reversed(list(ports)))
        for file, _ in FILES:
            for name in order:
                label = f"{file:<7} {name:<7} turn {rep + 1}"
                s = measured_turn(args, budget, label,
                                  lambda: run_wrk(args, servers[name], ports[name], 1, args.seconds, path=f"/static/{file}"))
                samples[(name, file)].append(s)
                rows.append({"kind": "sample", "server": name, "file": file, "rep": rep + 1, **s})
                print(f"  {label}: {turn_line(s)}", flush=True)
    for p in servers.values():
        p.terminate()

    print("\n| file | server | req/s (median) | req per server-core-s (median) | min–max | req per process-CPU-s (median) "
          "| min–max | MB/s of body | process CPU | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for file, size in FILES:
        for name in ports:
            ss = kept(samples[(name, file)])
            print(f"| {file} | {name} | {med(ss, 'req_per_s'):,.0f} | {med(ss, 'req_per_core_s'):,.0f} | "
                  f"{min(s['req_per_core_s'] for s in ss):,.0f}–{max(s['req_per_core_s'] for s in ss):,.0f} | "
                  f"{med(ss, 'req_per_cpu_s'):,.0f} | "
                  f"{min(s['req_per_cpu_s'] for s in ss):,.0f}–{max(s['req_per_cpu_s'] for s in ss):,.0f} | "
                  f"{med(ss, 'req_per_s') * size / 1e6:,.0f} | {med(ss, 'server_cpu_pct'):.0f} % | "
                  f"{sum(s['errors'] for s in ss)} |")
    print()
    for file, _ in FILES:
        sp, ng = kept(samples[("Spindle", file)]), kept(samples[("nginx", file)])
        ratio = med(sp, "req_per_core_s") / med(ng, "req_per_core_s")
        process_ratio = med(sp, "req_per_cpu_s") / med(ng, "req_per_cpu_s")
        verdict = "PASS" if ratio >= 1.0 else "FAIL"
        print(f"{verdict}  {file}: Spindle req per server-core-s ≥ 1.0× nginx: {ratio:.2f}× "
              f"({med(sp, 'req_per_core_s'):,.0f} vs {med(ng, 'req_per_core_s'):,.0f}; "
              f"per process-CPU-s {process_ratio:.2f}×)")
        rows.append({"kind": "goal", "server": "Spindle/nginx", "file": file, "ratio": f"{ratio:.4f}",
                     "process_ratio": f"{process_ratio:.4f}", "result": verdict})
    fields = ["kind", "server", "file", "rep", "requests", "seconds", "req_per_s", "p50_us", "p99_us", "server_cpu_s",
              "server_cpu_pct", "req_per_cpu_s", "server_core_s", "req_per_core_s", "client_cpu_pct", "errors", "disturbed",
              "ratio", "process_ratio", "result"]
    write_csv(args.csv, fields, rows)
    print_footer(args, budget, list(samples.values()), started, f"CSV written to {args.csv}")


if __name__ == "__main__":
    main()
