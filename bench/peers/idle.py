"""Idle keep-alive memory for `make -C bench peers` (bench/peers/run.py): how much resident
memory a server adds per connection that made one request and then sits idle. Imported by
run.py (and by idle_client.py, the client processes of hold_idle_spread); not run by itself.

hold_idle(...) waits SETTLE seconds, reads the server's VmRSS, opens COUNT connections to it
from this process (pinned to the client CPU) in batches of BATCH — each sends one
`GET /plaintext` and reads the whole response before the next batch starts, so the server's
accept backlog never overflows — waits SETTLE seconds again, checks that every connection is still open (a non-blocking read that would
block), reads VmRSS again and closes them all with a reset (SO_LINGER 0: no TIME_WAIT left to
exhaust the ephemeral ports for the next server). Growth ÷ connections held = KiB per idle
connection. A connection the server refused, answered with something other than 200, or
closed counts as not held, and the result says so; the client raises its own RLIMIT_NOFILE
first (raise_nofile), so a limit on this side is never mistaken for the server's.

The connections come from 127.0.0.1, 127.0.0.2, … (SOURCE_SPAN each, bound with
IP_BIND_ADDRESS_NO_PORT so the port is picked at connect time): one source address reaches one
destination through at most the ~28k ports of net.ipv4.ip_local_port_range, fewer than the
50,000 of run.py's large test. The first SOURCE_SPAN (all of the 10,000-connection test) come
from 127.0.0.1 as before.

hold_idle_spread(...) is the same test spread over processes on both sides, for run.py's large
test (50,000 connections): RLIMIT_NOFILE is per process, and where its hard limit is below the
connections (20,000 on the VM of Docs/benchmarks/peers.md; raising it needs CAP_SYS_RESOURCE)
neither one client process nor one server process can hold them all. The server is Spindle
with worker processes under its supervisor (`--processes N`, SO_REUSEPORT sockets: the kernel
spreads the connections over them); the connections come from `clients` processes of
idle_client.py, each holding a share of at most PER_PROCESS, opened one share after another
in batches exactly as hold_idle opens them, from the same source addresses. The server's RSS
is the sum of VmRSS over the supervisor and its worker processes (tree_rss_kib); the growth ÷
connections held is again the KiB per idle connection, with the same SETTLE waits.
"""
import collections
import errno
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time

from benchutil import die, die_with_parent, rss_kib

RESPONSE_WAIT = 10  # seconds a batch may wait for its responses
# Seconds every server is left alone before each RSS reading: before the connections open (what
# the warm-up left behind has settled) and after (the connections are idle). Spindle gives back
# what a burst left (pooled buffers, a burst's fiber stacks, idle connections' send objects) at
# its memory trims, every 5 s, within two of them; the same wait for every server.
SETTLE = 11
# Connections per loopback source address: well under the 28,232 ephemeral ports of the default
# ip_local_port_range (32768-60999), which is all one source address has towards one server port.
SOURCE_SPAN = 10000
# Not in Python's socket module before 3.12 (Linux 4.2+, include/uapi/linux/in.h).
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
# Connections per process, server or client, in hold_idle_spread: well under a per-process
# descriptor limit of 20,000 (Spindle keeps 1,024 of them out of its connection cap, 18,976 there)
# with room for SO_REUSEPORT's hash to give one server process a few hundred more than its share.
PER_PROCESS = 12500
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle_client.py")


class ServerExited(Exception):
    """The server under test exited during hold_idle; the message says how."""


def raise_nofile(needed, wanted=0):
    """Raises this process's RLIMIT_NOFILE (soft and, as root, hard) to at least `needed`, and
    as far towards `wanted` as the hard limit allows (raising the hard limit needs
    CAP_SYS_RESOURCE); servers started afterwards inherit it. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    goal = max(needed, wanted)
    if soft >= goal:
        return soft
    target = goal if hard == resource.RLIM_INFINITY else max(hard, goal)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
    except (ValueError, OSError):
        if hard != resource.RLIM_INFINITY and hard < needed:
            die(f"RLIMIT_NOFILE is {soft}/{hard} and cannot be raised to {needed}: run `ulimit -n {needed}` "
                f"as root first, or pass --idle-connections {max(0, hard - 1000)}")
        # The hard limit stays: the soft one goes as high as it allows (at least `needed`).
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def source_address(index):
    """The loopback source address of connection number `index` (see SOURCE_SPAN)."""
    return f"127.0.0.{1 + index // SOURCE_SPAN}"


def reason(error):
    return errno.errorcode.get(error.errno, type(error).__name__) if isinstance(error, OSError) else str(error)


def open_batch(port, first, count, request, body, selector, failures):
    """Opens `count` connections (numbered from `first`, for their source addresses), sends
    `request` on each and waits for the responses; returns the sockets that got a complete 200
    response ending in `body`."""
    pending, done = {}, []
    for i in range(first, first + count):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:  # EMFILE/ENFILE/ENOMEM on this side: counted, not a crash
            failures[f"socket {reason(e)}"] += 1
            continue
        try:
            s.settimeout(5)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((source_address(i), 0))
            s.connect(("127.0.0.1", port))  # no name lookup: create_connection's getaddrinfo costs more
            s.sendall(request)
            s.setblocking(False)
        except OSError as e:
            s.close()
            failures[f"connect/send {reason(e)}"] += 1
            continue
        pending[s] = b""
        selector.register(s, selectors.EVENT_READ)

    def drop(s, why):
        failures[why] += 1
        selector.unregister(s)
        del pending[s]
        s.close()

    deadline = time.monotonic() + RESPONSE_WAIT
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                drop(s, f"recv {reason(e)}")
                continue
            if not chunk:
                drop(s, "closed before responding")
                continue
            data = pending[s] + chunk
            if b"\r\n\r\n" in data and data.endswith(body):
                if not data.startswith(b"HTTP/1.1 200"):
                    drop(s, f"answered {data.split(b' ', 2)[1].decode(errors='replace')}")
                    continue
                selector.unregister(s)
                del pending[s]
                done.append(s)
            else:
                pending[s] = data
    for s in list(pending):
        drop(s, f"no response within {RESPONSE_WAIT} s")
    return done


def still_open(s):
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""  # bytes nobody asked for: open, but odd
    except BlockingIOError:
        return True
    except OSError:
        return False


def close_with_reset(sockets):
    linger = struct.pack("ii", 1, 0)
    for s in sockets:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


def hold_idle(server, port, count, batch, client_cpu, body=b"Hello, World!"):
    """The idle test against one running server; returns its measurements (see the module's doc)."""
    request = f"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {client_cpu})
    failures = collections.Counter()
    held = []
    try:
        time.sleep(SETTLE)  # let the server settle after its last load
        rss_before = rss_kib(server.pid)
        started = time.monotonic()
        with selectors.DefaultSelector() as selector:
            while len(held) < count:
                got = open_batch(port, len(held), min(batch, count - len(held)), request, body, selector, failures)
                held += got
                if not got:  # a whole batch failed: the server holds no more
                    break
        open_seconds = time.monotonic() - started
        time.sleep(SETTLE)  # idle: what the server keeps per connection, not what opening them took
        alive = [s for s in held if still_open(s)]
        if len(alive) < len(held):
            failures["closed while idle"] += len(held) - len(alive)
        if server.poll() is not None:
            raise ServerExited(f"server on port {port} exited with status {server.returncode} during the idle test")
        rss_after = rss_kib(server.pid)
    finally:
        close_with_reset(held)
        os.sched_setaffinity(0, affinity)
    return {
        "connections": count,
        "held": len(alive),
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_connection": (rss_after - rss_before) / len(alive) if alive else float("nan"),
        "open_s": open_seconds,
        "failures": "; ".join(f"{n} {why}" for why, n in failures.most_common()),
        "server_processes": 1,
        "client_processes": 1,
    }


def processes_for(count):
    """How many processes hold `count` connections on each side in hold_idle_spread."""
    return max(1, -(-count // PER_PROCESS))


def process_tree(pid):
    """`pid` and its child processes (a Spindle supervisor and its worker processes)."""
    children = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
    except FileNotFoundError:
        pass
    return [pid] + sorted(set(children))


def tree_rss_kib(pid):
    """The summed VmRSS of `pid` and its child processes, KiB, and those processes."""
    pids = process_tree(pid)
    return sum(rss_kib(p) for p in pids), pids


def socket_count(pid):
    """How many sockets process `pid` has open (its listening sockets, its connections)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile
            pass
    return count


def read_reply(client, what):
    """The next JSON line of an idle_client.py process; a client that ends instead breaks the run."""
    line = client.stdout.readline()
    if not line:
        die(f"an idle client process ({' '.join(client.args)}) exited with status {client.wait()} {what}")
    return json.loads(line)


def hold_idle_spread(server, port, count, batch, client_cpu, clients, body=b"Hello, World!"):
    """The idle test against a server of several processes (`server`: the supervisor's Popen),
    from `clients` client processes (see the module's doc); returns hold_idle's measurements plus
    server_processes, client_processes and per_process (connections each server worker process
    holds, from its open sockets)."""
    shares = [count // clients + (i < count % clients) for i in range(clients)]
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {client_cpu})
    failures = collections.Counter()
    started_clients = []
    try:
        time.sleep(SETTLE)  # let the server settle after its last load
        rss_before, workers = tree_rss_kib(server.pid)
        serving = workers[1:] or workers  # the worker processes; the server itself without any
        sockets_before = {p: socket_count(p) for p in serving}
        held, open_seconds, first = 0, 0.0, 0
        for share in shares:  # one share after another: one batch in flight at a time, as in hold_idle
            client = subprocess.Popen([sys.executable, CLIENT, str(port), str(first), str(share), str(batch),
                                       str(client_cpu), body.decode()], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
            started_clients.append(client)
            opened = read_reply(client, "while opening its connections")
            held += opened["held"]
            open_seconds += opened["open_s"]
            failures.update(opened["failures"])
            first += share
        time.sleep(SETTLE)  # idle: what the server keeps per connection, not what opening them took
        alive = 0
        for client in started_clients:
            client.stdin.write("check\n")
            client.stdin.flush()
            checked = read_reply(client, "while checking its connections")
            alive += checked["alive"]
            failures.update(checked["failures"])
        if server.poll() is not None:
            raise ServerExited(f"server on port {port} exited with status {server.returncode} during the idle test")
        rss_after, workers_after = tree_rss_kib(server.pid)
        per_process = [socket_count(p) - sockets_before.get(p, 0) for p in (workers_after[1:] or workers_after)]
        if workers_after != workers:
            failures[f"worker processes {workers[1:]} became {workers_after[1:]}"] += 1
    finally:
        for client in started_clients:
            try:
                client.stdin.write("close\n")
                client.stdin.close()
            except OSError:  # it has exited already
                pass
        for client in started_clients:
            try:
                client.wait(timeout=30)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()
        os.sched_setaffinity(0, affinity)
    return {
        "connections": count,
        "held": alive,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_connection": (rss_after - rss_before) / alive if alive else float("nan"),
        "open_s": open_seconds,
        "failures": "; ".join(f"{n} {why}" for why, n in failures.most_common()),
        "server_processes": len(serving),
        "client_processes": clients,
        "per_process": " / ".join(f"{n:,}" for n in per_process),
    }
