#!/usr/bin/env python3
"""The chat benchmark behind `make bench-chat` / `make -C bench chat`: memory per connected member.

Each turn starts one server process pinned to --server-cpu and holds N members of one room on
it from this process (pinned to --client-cpu), each member a plain socket:

  Spindle SSE   Examples/Chat --workers 1, N event-stream members (GET /rooms/bench/events)
  Spindle WS    the same server, N WebSocket members (GET /rooms/bench/ws)
  Go SSE        go/chatpeer.go (net/http, GOMAXPROCS=1, a goroutine per stream), N event streams

A turn measures the server's VmRSS after start-up and one warm-up member, opens the N members
and waits until every one has read its `joined` event and the room counts N + 1 (a warm-up
member joined before the first reading stays), waits --settle
seconds (12 by default: past two of Spindle's 5 s memory trims, the state of members that stay for
minutes),
and reads VmRSS again: (after - before) / N is the memory per member. Then it POSTs one
message and times until every member has read it (fan-out to N), and closes the members.

Output: one line per turn, the ratio Spindle SSE / Go SSE per member (PASS when at most
--goal, 0.5 by default), and a CSV (--csv). RLIMIT_NOFILE is raised to its hard limit for this
process and the servers; N above what it allows (hard limit minus 1000) is lowered, and says so.
Exit status 0 when every turn ran and every member got the message, 1 otherwise.
See Docs/benchmarks/chat.md.
"""
import argparse
import base64
import os
import resource
import selectors
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import benchutil  # noqa: E402
from benchutil import die, rss_kib, start_server  # noqa: E402

benchutil.PROGRAM = "bench-chat"
benchutil.PORT_HINT = "pick other ports with CHAT_PORT=... (make -C bench chat CHAT_PORT=7850)"

FD_MARGIN = 1000
ROOM = "bench"


def request_bytes(kind, port):
    if kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET /rooms/{ROOM}/ws?from=bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    return f"GET /rooms/{ROOM}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def http_post(port, path, body):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def members_in_room(port):
    data = http_get(port, f"/rooms/{ROOM}")
    body = data.split(b"\r\n\r\n", 1)[-1]
    marker = b'"members":'
    at = body.find(marker)
    if at < 0:
        return -1
    digits = body[at + len(marker):].split(b",")[0].split(b"}")[0]
    return int(digits)


def read_until_all(sockets, marker, timeout):
    """Reads from every socket until each has received `marker`; returns the seconds it took and
    the sockets that did not (closed or timed out)."""
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    seen = {}
    for s in sockets:
        selector.register(s, selectors.EVENT_READ)
        seen[s] = b""
    waiting = set(sockets)
    deadline = started + timeout
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionError:
                chunk = b""
            if not chunk:
                selector.unregister(s)
                waiting.discard(s)
                seen[s] = None
                continue
            seen[s] += chunk
            if marker in seen[s]:
                selector.unregister(s)
                waiting.discard(s)
                seen[s] = b""
    selector.close()
    failed = [s for s in sockets if s in waiting or seen[s] is None]
    return time.monotonic() - started, failed


def open_members(kind, port, n):
    sockets = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(request_bytes(kind, port))
        s.setblocking(False)
        sockets.append(s)
    return sockets


def wait_for_count(port, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if members_in_room(port) == n:
            return True
        time.sleep(0.1)
    return False


def turn(name, argv, kind, port, n, args, log):
    server = start_server(name, argv, port, args.server_cpu, log=log)
    try:
        # One member joins first and stays: the server's lazily built state (the room, the
        # pump, the first stacks) is counted in the baseline, not per member.
        warm = open_members(kind, port, 1)
        _, failed = read_until_all(warm, b"joined", 10)
        if failed:
            die(f"{name}: the warm-up member did not join")
        time.sleep(0.5)
        before = rss_kib(server.pid)
        started = time.monotonic()
        sockets = open_members(kind, port, n)
        joined_seconds, failed = read_until_all(sockets, b"joined", 120)
        if failed:
            die(f"{name}: {len(failed)} of {n} members did not get their joined event")
        if not wait_for_count(port, n + 1, 30):
            die(f"{name}: the room does not count {n + 1} members (it counts {members_in_room(port)})")
        open_seconds = time.monotonic() - started
        time.sleep(args.settle)
        after = rss_kib(server.pid)
        post = http_post(port, f"/rooms/{ROOM}/messages?from=bench", b"bench-delivery")
        if not post.startswith(b"HTTP/1.1 202"):
            die(f"{name}: POST answered {post[:200]!r}")
        fanout_seconds, missed = read_until_all(sockets, b"bench-delivery", 60)
        for s in sockets + warm:
            s.close()
        per_member = (after - before) * 1024 / n
        return {"server": name, "members": n, "rss_before_kib": before, "rss_after_kib": after,
                "bytes_per_member": per_member, "open_s": open_seconds, "joined_s": joined_seconds,
                "fanout_ms": fanout_seconds * 1000, "missed": len(missed)}
    finally:
        server.kill()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chat", required=True, help="Spindle's Chat executable (release)")
    parser.add_argument("--go-peer", required=True, help="go/chatpeer.go built")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=7800)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--settle", type=float, default=12.0,
                        help="seconds between the last join and the RSS reading: past two of Spindle's 5 s memory "
                             "trims, after which parked fibers hold only the stack they wait on and what the burst of "
                             "joins left in pools is given back; every server gets the same time")
    parser.add_argument("--goal", type=float, default=0.5)
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--csv")
    args = parser.parse_args()
    benchutil.install_cleanup()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    n = args.members
    if n > hard - FD_MARGIN:
        n = hard - FD_MARGIN
        print(f"RLIMIT_NOFILE hard limit {hard}: {args.members} members lowered to {n}")
    os.sched_setaffinity(0, {args.client_cpu})
    print(f"chat: {n} members of one room on one server process (server CPU {args.server_cpu}, client CPU "
          f"{args.client_cpu}); load average {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")

    turns = [
        ("Spindle SSE", [args.chat, "--workers", "1", "--port", str(args.port + 1)], "sse", args.port + 1),
        ("Spindle WS", [args.chat, "--workers", "1", "--port", str(args.port + 2)], "ws", args.port + 2),
        ("Go SSE", [args.go_peer, str(args.port + 3)], "sse", args.port + 3),
    ]
    results = []
    with open(os.path.join(args.workdir, "chat-servers.log"), "w") as log:
        for name, argv, kind, port in turns:
            result = turn(name, argv, kind, port, n, args, log)
            results.append(result)
            print(f"{name:12} {n} members: RSS {result['rss_before_kib'] / 1024:.1f} -> {result['rss_after_kib'] / 1024:.1f} MiB, "
                  f"{result['bytes_per_member'] / 1024:.2f} KiB per member; all joined in {result['open_s']:.2f} s; "
                  f"one message to all in {result['fanout_ms']:.1f} ms, missed by {result['missed']}", flush=True)
    spindle = next(r for r in results if r["server"] == "Spindle SSE")
    go = next(r for r in results if r["server"] == "Go SSE")
    ratio = spindle["bytes_per_member"] / go["bytes_per_member"] if go["bytes_per_member"] > 0 else float("inf")
    verdict = "PASS" if ratio <= args.goal else "FAIL"
    print(f"memory per event-stream member, Spindle / Go: {ratio:.2f}x (goal <= {args.goal}x): {verdict}")
    if args.csv:
        with open(args.csv, "w") as out:
            keys = list(results[0].keys())
            out.write(",".join(keys) + "\n")
            for r in results:
                out.write(",".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    sys.exit(1 if any(r["missed"] for r in results) else 0)


if __name__ == "__main__":
    main()
