#!/usr/bin/env python3
"""Idle keep-alive connections for `make -C bench alloc` (bench/alloc/run.py starts it pinned to the
client CPU):

    python3 idle_client.py PORT COUNT

Opens COUNT connections to 127.0.0.1:PORT (at most 256 connecting at once), sends one
`GET /plaintext` on each and reads its whole response (Content-Length), then keeps every
connection open and idle. Prints one line when all are answered:

    READY count=N seconds=S p50_us=X p99_us=Y

(S: from the first connect to the last response; the percentiles are per connection, connect
to last response byte, so they include waiting behind the other connections in flight). Then it
waits until its standard input closes (or a line arrives) and closes every connection with
SO_LINGER 0 (a reset: no TIME_WAIT, so repeated runs do not run out of local ports), and exits.
Exits with status 1 and a message if a connection fails. Standard library only.
"""
import os
import selectors
import socket
import statistics
import struct
import sys
import time

IN_FLIGHT = 256


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    request = f"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    held, latencies = [], []
    started = time.monotonic()
    opened = 0
    pending = {}  # socket -> [start time, bytes received]

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        pending[s] = [time.monotonic(), b""]
        selector.register(s, selectors.EVENT_WRITE)

    while len(held) < count:
        while opened < count and len(pending) < IN_FLIGHT:
            open_one()
            opened += 1
        ready = selector.select(timeout=10)
        if not ready:
            sys.exit(f"idle_client: no progress for 10 s ({len(held)} of {count} answered, {len(pending)} in flight)")
        for key, events in ready:
            s = key.fileobj
            state = pending[s]
            if events & selectors.EVENT_WRITE:
                error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    sys.exit(f"idle_client: connect to 127.0.0.1:{port} failed: {os.strerror(error)}")
                s.send(request)  # 40-odd bytes into an empty socket buffer: never short
                selector.modify(s, selectors.EVENT_READ)
                continue
            chunk = s.recv(4096)
            if not chunk:
                sys.exit(f"idle_client: connection closed before the response ({len(held)} answered)")
            state[1] += chunk
            head, sep, body = state[1].partition(b"\r\n\r\n")
            if not sep:
                continue
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(body) < length:
                continue
            if not head.startswith(b"HTTP/1.1 200"):
                sys.exit(f"idle_client: unexpected response {head[:100]!r}")
            selector.unregister(s)
            del pending[s]
            latencies.append((time.monotonic() - state[0]) * 1e6)
            held.append(s)
    seconds = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print(f"READY count={len(held)} seconds={seconds:.3f} p50_us={q[49]:.0f} p99_us={q[98]:.0f}", flush=True)
    sys.stdin.readline()
    linger = struct.pack("ii", 1, 0)
    for s in held:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.close()


if __name__ == "__main__":
    main()
