#!/usr/bin/env python3
"""`make -C bench http-split`: user and kernel CPU time per request, Spindle against the C responder.

For each of --pairs pairs, Hello (one worker, io_uring, access log, metrics and admin listener
off) and the C responder are started fresh, one after the other (the order alternating), pinned
to --server-cpu; wrk (one thread on --client-cpu, 64 connections, http/pipeline.lua at --depth)
warms each up for 1 s and then loads it for --seconds while the server's utime and stime
(fields 14 and 15 of /proc/PID/stat, all threads) are read before and after. Prints a line per
process and, per server, the range and median of user, kernel and total nanoseconds of CPU per
request and of requests per server-CPU-second.

It answers one question the suites do not print: where the difference to the C responder lies,
in the kernel's work (system calls, the loopback, io_uring) or in user space. Clock ticks are
coarse (10 ms): with a few hundred per turn the user column is good to a few percent. It judges
no goal; `make bench-http` does.

    cpu_split.py --spindle HELLO --c-server C_SERVER [--pairs 3] [--seconds 3] [--depth 16]
                 [--path /plaintext] [--server-cpu 0] [--client-cpu 1] [--port 7480]

Standard library only (with bench/lib/benchutil.py: starting pinned servers, the clock ticks).
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import CLK_TCK, die, install_cleanup, start_server, user_system_ticks  # noqa: E402
import benchutil  # noqa: E402

benchutil.PROGRAM = "bench-http-split"
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline.lua")


def wrk(args, url, seconds):
    """One pinned wrk run at --depth; returns the requests it counted."""
    out = subprocess.run(["taskset", "-c", str(args.client_cpu), "wrk", "-t1", "-c64", f"-d{seconds}s", "-s", LUA,
                          url, "--", str(args.depth)], capture_output=True, text=True).stdout
    found = re.search(r"(\d+) requests in", out)
    if not found:
        die(f"wrk printed no request count for {url}:\n{out}")
    return int(found.group(1))


def measure(args, name, argv, port):
    """Starts `argv` fresh on --server-cpu, warms it up, measures one turn; returns the sample."""
    env = dict(os.environ, SPINDLE_ACCESS_LOG="off", SPINDLE_METRICS="off", SPINDLE_ADMIN_PORT="0", SPINDLE_IO="uring")
    server = start_server(name, argv, port, args.server_cpu, env=env)
    try:
        url = f"http://127.0.0.1:{port}{args.path}"
        wrk(args, url, 1)
        user0, system0 = user_system_ticks(server.pid)
        requests = wrk(args, url, args.seconds)
        user1, system1 = user_system_ticks(server.pid)
    finally:
        server.kill()
        server.wait()
    user = (user1 - user0) / CLK_TCK * 1e9 / requests
    kernel = (system1 - system0) / CLK_TCK * 1e9 / requests
    sample = {"user": user, "kernel": kernel, "total": user + kernel, "per_cpu_s": 1e9 / (user + kernel)}
    print(f"  {name:<8} {requests:>10,} requests: user {user:6.0f} ns, kernel {kernel:6.0f} ns, "
          f"total {user + kernel:6.0f} ns per request, {sample['per_cpu_s']:,.0f} req per server-CPU-s", flush=True)
    return sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spindle", required=True, help="the Hello binary")
    parser.add_argument("--c-server", required=True, help="the C responder (bench/http/c-http-server.c)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--depth", type=int, default=16, help="requests per pipelined batch (1: keep-alive)")
    parser.add_argument("--path", default="/plaintext", help="Hello's route (the C responder answers any)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--port", type=int, default=7480)
    args = parser.parse_args()
    install_cleanup()
    servers = {
        "Spindle": lambda port: [args.spindle, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "C": lambda port: [args.c_server, str(port)],
    }
    print(f"http-split: {args.pairs} pairs of fresh processes, {args.seconds} s turns at pipelining {args.depth}, "
          f"{args.path}; server on CPU {args.server_cpu}, wrk on CPU {args.client_cpu}")
    samples = {name: [] for name in servers}
    for pair in range(args.pairs):
        order = list(servers) if pair % 2 == 0 else list(reversed(servers))
        print(f"pair {pair + 1}")
        for offset, name in enumerate(order):
            port = args.port + 2 * pair + offset  # a fresh port: no TIME_WAIT of the last process
            samples[name].append(measure(args, name, servers[name](port), port))
    print("\n| server | user ns per request | kernel ns per request | total | req per server-CPU-s |")
    print("|---|---:|---:|---:|---:|")
    for name, got in samples.items():
        cells = []
        for key in ("user", "kernel", "total", "per_cpu_s"):
            values = sorted(s[key] for s in got)
            cells.append(f"{values[len(values) // 2]:,.0f} ({values[0]:,.0f}–{values[-1]:,.0f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nmedian (min–max) over the fresh processes")


if __name__ == "__main__":
    main()
