#!/usr/bin/env python3
"""One client process of the large idle test of `make -C bench peers` (bench/peers/idle.py's
hold_idle_spread, which starts several of these): RLIMIT_NOFILE is per process, so one process
cannot hold 50,000 connections where the hard limit is 20,000, but several can each hold a share.

  python3 idle_client.py PORT FIRST COUNT BATCH CPU [BODY]

Pins itself to CPU, raises its RLIMIT_NOFILE as far as the hard limit allows, then opens COUNT
connections to 127.0.0.1:PORT exactly as hold_idle does (idle.open_batch: batches of BATCH, one
`GET /plaintext` each, the whole response read before the next batch; a whole batch failing
ends it), numbered from FIRST for their loopback source addresses (idle.source_address), so the
shares of all the processes together use the same addresses as one process would. The
conversation with the parent is one JSON line out per line in:

  (at start)  -> {"held": n, "open_s": s, "failures": {why: n}}
  check       -> {"alive": n, "failures": {why: n}}   connections still open (idle.still_open)
  close       closes them all with a reset (SO_LINGER 0) and exits; so does end of input
              (the parent has gone)
"""
import collections
import json
import os
import selectors
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchutil  # noqa: E402
import idle  # noqa: E402

benchutil.PROGRAM = "bench-peers idle client"


def say(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main():
    port, first, count, batch, cpu = (int(a) for a in sys.argv[1:6])
    body = sys.argv[6].encode() if len(sys.argv) > 6 else b"Hello, World!"
    os.sched_setaffinity(0, {cpu})
    idle.raise_nofile(count + 64)
    request = f"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    failures = collections.Counter()
    held = []
    try:
        started = time.monotonic()
        with selectors.DefaultSelector() as selector:
            while len(held) < count:
                got = idle.open_batch(port, first + len(held), min(batch, count - len(held)), request, body,
                                      selector, failures)
                held += got
                if not got:  # a whole batch failed: the server holds no more
                    break
        say({"held": len(held), "open_s": time.monotonic() - started, "failures": dict(failures)})
        for line in sys.stdin:
            command = line.strip()
            if command == "check":
                alive = sum(1 for s in held if idle.still_open(s))
                closed = collections.Counter()
                if alive < len(held):
                    closed["closed while idle"] = len(held) - alive
                say({"alive": alive, "failures": dict(closed)})
            elif command == "close":
                break
    finally:
        idle.close_with_reset(held)


if __name__ == "__main__":
    main()
