#!/usr/bin/env python3
"""The HTTP client benchmark (`make -C bench client`, or `make bench-client` from the root):
requests per client-CPU-second against a local nginx, Spindle's HTTPClient (bench/Sources/
client-bench) beside Go's net/http client (bench/go/httpclient.go), and their ratio.

nginx (one process, bench/lib/benchutil.py nginx_config) is pinned to --server-cpu; each client
to --client-cpu, one thread of client code (one Spindle worker; GOMAXPROCS=1). Each turn runs
one client for --seconds with --concurrency requests in flight over as many keep-alive
connections, fetching GET /plaintext ("Hello, World!") and reading every body; the client
reports requests done and its own CPU time (user + system, getrusage). The clients alternate,
--reps turns each; medians are printed, with the ratio Spindle / Go of requests per CPU-second
(above 1: Spindle's client spends less CPU per request). Results go to out/client.txt.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchutil  # noqa: E402

benchutil.PROGRAM = "bench/client"
benchutil.PORT_HINT = " (choose another with --port)"


def run_client(name, argv, env, cpu):
    line = subprocess.run(["taskset", "-c", str(cpu)] + argv, capture_output=True, text=True, env=env, timeout=300)
    m = re.search(r"requests=(\d+) cpu_seconds=([\d.]+) errors=(\d+)", line.stdout)
    if line.returncode != 0 or not m:
        benchutil.die(f"{name} failed ({line.returncode}): {line.stdout.strip()} {line.stderr.strip()[-500:]}")
    requests, cpu_s, errors = int(m.group(1)), float(m.group(2)), int(m.group(3))
    if errors:
        benchutil.die(f"{name}: {errors} failed requests")
    return {"requests": requests, "cpu": cpu_s, "per_cpu_s": requests / cpu_s if cpu_s > 0 else 0.0}


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="the client-bench executable")
    parser.add_argument("--go", required=True, help="the Go httpclient executable")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--port", type=int, default=7400)
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(root, "bench", "out", "client.txt"))
    args = parser.parse_args()
    benchutil.install_cleanup()
    if not benchutil.port_free(args.port):
        benchutil.die(f"port {args.port} is in use{benchutil.PORT_HINT}")

    workdir = tempfile.mkdtemp(prefix="spindle-client-bench-")
    conf = benchutil.nginx_config(workdir, args.port)
    benchutil.start_server("nginx", benchutil.nginx_argv(args.nginx, workdir, conf), args.port, args.server_cpu)
    url = f"http://127.0.0.1:{args.port}/plaintext"

    lines = []
    def say(text):
        print(text, flush=True)
        lines.append(text)

    head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    say(f"# HTTP client: requests per client-CPU-second against nginx ({url})")
    say(f"# commit {head}; CPU {benchutil.cpu_model()}; {os.cpu_count()} CPUs; load {benchutil.load_average()}")
    say(f"# nginx on CPU {args.server_cpu}, clients on CPU {args.client_cpu}; {args.concurrency} in flight; "
        f"{args.reps} turns of {args.seconds:g} s each, alternating")
    env_spindle = dict(os.environ, SPINDLE_WORKERS="1")
    env_go = dict(os.environ, GOMAXPROCS="1")
    results = {"spindle": [], "go": []}
    for turn in range(1, args.reps + 1):
        for name, argv, env in (("spindle", [args.spindle], env_spindle), ("go", [args.go], env_go)):
            r = run_client(name, argv + [url, str(args.seconds), str(args.concurrency)], env, args.client_cpu)
            results[name].append(r)
            say(f"turn {turn} {name:8} {r['requests']:9d} requests {r['cpu']:7.2f} CPU-s "
                f"{r['per_cpu_s']:10.0f} req/CPU-s {r['requests'] / args.seconds:10.0f} req/s")
    med = {name: statistics.median(r["per_cpu_s"] for r in rs) for name, rs in results.items()}
    rate = {name: statistics.median(r["requests"] / args.seconds for r in rs) for name, rs in results.items()}
    say(f"median spindle {med['spindle']:10.0f} req/CPU-s ({rate['spindle']:.0f} req/s)")
    say(f"median go      {med['go']:10.0f} req/CPU-s ({rate['go']:.0f} req/s)")
    say(f"ratio spindle/go (req per client-CPU-second): {med['spindle'] / med['go']:.2f}x")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
