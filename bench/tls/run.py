#!/usr/bin/env python3
"""The TLS benchmark behind `make bench-tls` / `make -C bench tls`.

Two servers, one worker each pinned to SERVER_CPU, terminate TLS with the same certificate and
key (ECDSA P-256, made for the run with the openssl command line, valid for 127.0.0.1):

  Spindle   Examples/Hello --tls-cert CERT --tls-key KEY, release build, on io_uring, access
            log off: OpenSSL through SpindleTLS (memory BIOs, the fiber parks on the socket)
  nginx     nginx-light, one process that is the worker, access_log off, `listen … ssl` with
            the same files, TLS 1.2 and 1.3, `return 200 "Hello, World!"` for /plaintext

Both speak TLS 1.3 to wrk (OpenSSL's defaults on both sides: X25519, AES-256-GCM). Workloads,
wrk with one thread on CLIENT_CPU and 64 connections:

  keep-alive   GET /plaintext over long-lived TLS connections (no pipelining): the record layer
  handshake    the same with `Connection: close`: every request on a new TCP connection with a
               full TLS handshake (wrk resumes no session), so the server's cost per request is
               mostly the handshake (an ECDSA signature and an ECDHE key exchange)

The servers take turns (order alternating) for REPS rounds of SECONDS each per workload; per
turn: requests/s and requests per server-CPU-second (utime+stime from /proc/PID/stat). The goals
of the TLS issue: keep-alive requests per server-CPU-second ≥ 1.0× nginx, handshakes per
server-CPU-second ≥ 0.9× nginx; printed as PASS/FAIL with the medians. See Docs/benchmarks/tls.md.
"""
import argparse
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import (RetryBudget, add_wrk_arguments, die, install_cleanup, kept, measured_turn, med,  # noqa: E402
                       nginx_argv, nginx_config, print_footer, print_header, run_wrk, start_server, tool_version, turn_line,
                       write_csv)
import benchutil  # noqa: E402

benchutil.PROGRAM = "bench-tls"
benchutil.PORT_HINT = "pick other ports with TLS_PORT=... (make -C bench tls TLS_PORT=7650)"
# (name, extra wrk headers, goal ratio)
WORKLOADS = (("keep-alive", (), 1.0), ("handshake", ("Connection: close",), 0.9))


def make_certificate(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"openssl req failed: {r.stderr}")
    return cert, key


def probe_tls(name, port, cert):
    """One GET /plaintext over TLS, verifying the certificate; returns (version, cipher, response head)."""
    context = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            version, cipher = s.version(), s.cipher()[0]
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"\r\n\r\nHello, World!"):
        die(f"{name} answered GET /plaintext over TLS with {data[:300]!r}")
    return version, cipher, data.split(b"\r\n\r\n")[0].decode()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--csv", default=os.path.join(here, "..", "out", "tls.csv"))
    parser.add_argument("--port", type=int, default=7600)
    add_wrk_arguments(parser, reps=4, seconds=4, retry_budget=40, wait_quiet=60)
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and workload")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup = 1, 1, 1
    args.lua = os.path.abspath(args.lua)
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    cert, key = make_certificate(workdir)
    install_cleanup()
    started = time.monotonic()
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    print_header(args, repo, "TLS, Spindle (OpenSSL through SpindleTLS) vs nginx, one worker on one core each, same ECDSA P-256 key",
                 [tool_version([args.wrk, "--version"]), tool_version([args.nginx, "-v"]),
                  tool_version(["openssl", "version"])])
    ports = {"Spindle": args.port + 1, "nginx": args.port + 2}
    logs = {name: open(os.path.join(workdir, f"{name.lower()}.log"), "w") for name in ports}
    nginx_dir = os.path.join(workdir, "nginx")
    argv = {
        "Spindle": [args.spindle, "--host", "127.0.0.1", "--port", str(ports["Spindle"]), "--workers", "1",
                    "--tls-cert", cert, "--tls-key", key, "--admin-port", "0"],
        "nginx": nginx_argv(args.nginx, nginx_dir, nginx_config(
            nginx_dir, ports["nginx"], listen_options="ssl", http_settings=f"    ssl_certificate {cert};\n"
            f"    ssl_certificate_key {key};\n    ssl_protocols TLSv1.2 TLSv1.3;",
            locations='        location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }')),
    }
    env = {"Spindle": dict(os.environ, SPINDLE_IO="uring", SPINDLE_ACCESS_LOG="off")}
    servers = {name: start_server(name, argv[name], ports[name], args.server_cpu, logs[name], env=env.get(name))
               for name in ports}
    for name in ports:
        version, cipher, head = probe_tls(name, ports[name], cert)
        print(f"  {name:<8} pid {servers[name].pid}: {version} {cipher}; " + " | ".join(head.split("\r\n")))
    print()
    for name in ports:
        for workload, headers, _ in WORKLOADS:
            run_wrk(args, servers[name], ports[name], 1, args.warmup, scheme="https", headers=headers)
    samples = {(name, w): [] for name in ports for w, _, _ in WORKLOADS}
    rows = []
    budget = RetryBudget()
    for rep in range(args.reps):
        order = list(ports) if rep % 2 == 0 else list(reversed(list(ports)))
        for workload, headers, _ in WORKLOADS:
            for name in order:
                label = f"{workload:<10} {name:<7} turn {rep + 1}"
                s = measured_turn(args, budget, label,
                                  lambda: run_wrk(args, servers[name], ports[name], 1, args.seconds, scheme="https",
                                                  headers=headers))
                samples[(name, workload)].append(s)
                rows.append({"kind": "sample", "server": name, "workload": workload, "rep": rep + 1, **s})
                print(f"  {label}: {turn_line(s)}", flush=True)
    for p in servers.values():
        p.terminate()

    print("\n| workload | server | req/s (median) | req per server-CPU-s (median) | min–max | p99 | server CPU | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for workload, _, _ in WORKLOADS:
        for name in ports:
            ss = kept(samples[(name, workload)])
            print(f"| {workload} | {name} | {med(ss, 'req_per_s'):,.0f} | {med(ss, 'req_per_cpu_s'):,.0f} | "
                  f"{min(s['req_per_cpu_s'] for s in ss):,.0f}–{max(s['req_per_cpu_s'] for s in ss):,.0f} | "
                  f"{med(ss, 'p99_us') / 1000:.2f} ms | {med(ss, 'server_cpu_pct'):.0f} % | "
                  f"{sum(s['errors'] for s in ss)} |")
    print()
    for workload, _, goal in WORKLOADS:
        sp, ng = kept(samples[("Spindle", workload)]), kept(samples[("nginx", workload)])
        ratio = med(sp, "req_per_cpu_s") / med(ng, "req_per_cpu_s")
        verdict = "PASS" if ratio >= goal else "FAIL"
        print(f"{verdict}  {workload}: Spindle req per server-CPU-s ≥ {goal:.1f}× nginx: {ratio:.2f}× "
              f"({med(sp, 'req_per_cpu_s'):,.0f} vs {med(ng, 'req_per_cpu_s'):,.0f})")
        rows.append({"kind": "goal", "server": "Spindle/nginx", "workload": workload, "ratio": f"{ratio:.4f}",
                     "result": verdict})
    fields = ["kind", "server", "workload", "rep", "requests", "seconds", "req_per_s", "p50_us", "p99_us",
              "server_cpu_s", "server_cpu_pct", "req_per_cpu_s", "client_cpu_pct", "errors", "disturbed", "ratio",
              "result"]
    write_csv(args.csv, fields, rows)
    print_footer(args, budget, list(samples.values()), started, f"CSV written to {args.csv}")


if __name__ == "__main__":
    main()
