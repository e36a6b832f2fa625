#!/usr/bin/env python3
"""The gevent peer of `make -C bench peers` (bench/peers/run.py; Docs/benchmarks/peers.md).

A WSGI application on gevent.pywsgi, one process, one OS thread, a greenlet per connection,
no access log, TCP_NODELAY on every connection (see NoDelayWSGIServer):

  GET /plaintext   "Hello, World!" (text/plain)
  GET /json        {"message":"Hello, World!"} (application/json, encoded per request)

  python3 gevent_peer.py --port 8080 [--host 127.0.0.1]      (needs `pip install gevent`)
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after monkey-patching, as gevent asks)
import json  # noqa: E402
import socket  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402

PLAINTEXT = b"Hello, World!"


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/plaintext":
        body, content_type = PLAINTEXT, "text/plain"
    elif path == "/json":
        body = json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode()
        content_type = "application/json"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class NoDelayWSGIServer(WSGIServer):
    """pywsgi with TCP_NODELAY on each accepted connection, as nginx, h2o, Go and SwiftNIO set by
    default. Without it a response written in more than one send waits behind the client's
    delayed ACK (~40 ms per request on loopback)."""

    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = NoDelayWSGIServer((args.host, args.port), application, log=None, backlog=1024)
    print(f"gevent-peer: serving on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
