#!/usr/bin/env python3
"""The Python (gevent/greenlet) peer of Spindle's scalability benchmark (`make -C bench scale`,
driven by bench/scale/scale.py; see Docs/benchmarks/scale.md). Needs `pip install
gevent greenlet`. One mode per process, one output line, in the formats fiber-bench prints:

  gevent_scale_peer.py parked N
      N greenlets (gevent.spawn), each parked on one gevent.event.Event:
      "parked <n> <ns> <rss-bytes> <pte-bytes>"
  gevent_scale_peer.py round-robin N ROUNDS
      N greenlets and this one calling gevent.sleep(0) in turn (the hub runs its callbacks FIFO,
      so each sleep(0) of the measuring greenlet is one round), ROUNDS timed rounds:
      "round-robin <n> <rounds> <switches> <ns> <rss> <pte>"
  gevent_scale_peer.py http PORT
      gevent.pywsgi on 127.0.0.1:PORT (backlog 4096, no access log); GET /sleep?ms=N does
      gevent.sleep(N / 1000)

The garbage collector keeps its defaults, as an application would run.
"""
import sys
import time

import gevent
import gevent.event


def memory():
    """(VmRSS, VmPTE) of this process in bytes."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmPTE"):
                values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmPTE", 0)


def parked(n):
    """Spawns n greenlets that park on one Event; times until all of them have run to it."""
    release = gevent.event.Event()
    started = [0]

    def park():
        started[0] += 1
        release.wait()

    rss0, pte0 = memory()
    start = time.perf_counter_ns()
    for _ in range(n):
        gevent.spawn(park)
    while started[0] < n:  # the hub starts them in spawn order; one sleep(0) normally suffices
        gevent.sleep(0)
    elapsed = time.perf_counter_ns() - start
    rss1, pte1 = memory()
    release.set()
    gevent.sleep(0)
    print(f"parked {n} {elapsed} {rss1 - rss0} {pte1 - pte0}", flush=True)


def round_robin(n, rounds):
    """n greenlets yield rounds+1 times each; this greenlet yields once unmeasured (every greenlet
    reaches its first yield), then `rounds` times under the clock: rounds × (n + 1) switches.
    Checks that the turns really were round-robin (no greenlet finished early)."""
    finished = [0]

    def spin():
        for _ in range(rounds + 1):
            gevent.sleep(0)
        finished[0] += 1

    rss0, pte0 = memory()
    greenlets = [gevent.spawn(spin) for _ in range(n)]
    gevent.sleep(0)  # warm-up round
    start = time.perf_counter_ns()
    for _ in range(rounds):
        gevent.sleep(0)
    elapsed = time.perf_counter_ns() - start
    rss1, pte1 = memory()
    if finished[0] != 0:
        sys.exit(f"gevent_scale_peer: {finished[0]} greenlets finished before the last round: the turns were not round-robin")
    gevent.joinall(greenlets)
    print(f"round-robin {n} {rounds} {rounds * (n + 1)} {elapsed} {rss1 - rss0} {pte1 - pte0}", flush=True)


def serve_http(port):
    from urllib.parse import parse_qs

    from gevent.pywsgi import WSGIServer

    def app(environ, start_response):
        if environ["PATH_INFO"] != "/sleep":
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        try:
            ms = int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["100"])[0])
        except ValueError:
            ms = -1
        if not 0 <= ms <= 60000:
            body = b"ms must be 0...60000\n"
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        gevent.sleep(ms / 1000)
        body = f"slept {ms} ms\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    WSGIServer(("127.0.0.1", port), app, log=None, backlog=4096).serve_forever()


def main(argv):
    try:
        mode, *numbers = argv[1:]
        numbers = [int(x) for x in numbers]
        if any(x <= 0 for x in numbers):
            raise ValueError
        if mode == "parked" and len(numbers) == 1:
            return parked(*numbers)
        if mode == "round-robin" and len(numbers) == 2:
            return round_robin(*numbers)
        if mode == "http" and len(numbers) == 1:
            return serve_http(*numbers)
    except ValueError:
        pass
    sys.exit("usage: gevent_scale_peer.py parked N | round-robin N ROUNDS | http PORT")


if __name__ == "__main__":
    main(sys.argv)
