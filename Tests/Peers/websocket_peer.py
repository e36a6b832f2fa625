#!/usr/bin/env python3
"""A real WebSocket client for the server tests (Tests/SpindleTests/WebSocketTests.swift).

    websocket_peer.py SCENARIO PORT

Scenarios speaking through Python's `websockets` library (asyncio API, any version >= 10):
  echo        text, binary, a fragmented text message, ping/pong, then a normal close
Scenarios writing raw frames over a plain socket (what a library would refuse to send):
  unmasked    an unmasked client frame            -> expects close 1002
  bad-utf8    a text frame that is not UTF-8      -> expects close 1007
  too-big     a frame over the 1 KiB test limit   -> expects close 1009
  bad-close   a close frame with code 999         -> expects close 1002
  silent      answers nothing (no pong)           -> expects a ping, then close 1001
Prints one line per check, `ok ...` or `FAIL ...`, and `done` at the end; exits 1 on failure.
"""
import asyncio
import base64
import os
import socket
import struct
import sys

failures = 0


def check(what, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


async def echo(port):
    import websockets
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo", max_size=2**20) as ws:
        await ws.send("hello")
        check("text echoed", await ws.recv() == "hello")
        await ws.send(b"\x00\x01\xff")
        check("binary echoed", await ws.recv() == b"\x00\x01\xff")
        await ws.send(["frag", "mented ", "message"])  # one message, three frames
        check("fragmented message reassembled", await ws.recv() == "fragmented message")
        big = "x" * 70000  # a 64-bit length frame
        await ws.send(big)
        check("70000-byte message echoed", await ws.recv() == big)
        pong = await ws.ping(b"abc")
        await asyncio.wait_for(pong, 5)
        check("ping answered with pong", True)
        await ws.close(1000, "bye")
        check("closed with 1000", ws.close_code == 1000)


def handshake(port, path="/echo"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    check("handshake answered 101", head.startswith(b"HTTP/1.1 101"))
    return s


def frame(opcode, payload, masked=True, fin=True):
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    header = bytes([first])
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header += bytes([mask_bit | n])
    elif n < 65536:
        header += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        header += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(s):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data
    first, second = exactly(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", exactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(n)


def expect_close(s, code, what):
    try:
        while True:
            opcode, payload = read_frame(s)
            if opcode == 0x8:
                got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                check(f"{what}: close {code} (got {got})", got == code)
                return
    except (EOFError, ConnectionResetError, socket.timeout) as e:
        check(f"{what}: close {code} (connection ended without a close frame: {e!r})", False)


def raw(scenario, port):
    if scenario == "silent":
        s = handshake(port, "/idle")
        opcode, _ = read_frame(s)
        check("server pinged a silent client", opcode == 0x9)
        expect_close(s, 1001, "silent client")
        return
    s = handshake(port)
    if scenario == "unmasked":
        s.sendall(frame(0x1, b"hi", masked=False))
        expect_close(s, 1002, "unmasked frame")
    elif scenario == "bad-utf8":
        s.sendall(frame(0x1, b"\xc3\x28 not utf-8"))
        expect_close(s, 1007, "invalid UTF-8")
    elif scenario == "too-big":
        s.close()
        s = handshake(port, "/small")
        s.sendall(frame(0x2, b"y" * 2000))
        expect_close(s, 1009, "message over the limit")
    elif scenario == "bad-close":
        s.sendall(frame(0x8, struct.pack("!H", 999)))
        expect_close(s, 1002, "invalid close code")
    else:
        raise SystemExit(f"unknown scenario {scenario}")


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    if scenario == "echo":
        asyncio.run(echo(port))
    else:
        raw(scenario, port)
    print("done", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
