#!/usr/bin/env python3
"""Chat members for the chat example's tests (Tests/ChatAppTests/ChatMembersTests.swift).

    chat_peer.py SCENARIO PORT ROOM

WebSocket members speak through Python's `websockets` library (asyncio API, any version >= 10);
event-stream members read the chunked `text/event-stream` body from a plain socket.

  fanout  3 WebSocket members (more until the room spans two workers) and 2 event-stream members;
          one WebSocket member sends 100 messages while
          a second connection POSTs 100: every member receives all 200, with sequence numbers
          1...200 in order, each sender's messages in the order sent, all members the same list
  slow    a WebSocket and an event-stream member that never read (small receive buffers) beside a
          fast one of each; 600 POSTed messages of 15,000 bytes: the fast members receive all 600
          in order, the slow ones are disconnected (their connection ends early) and leave
  leave   2 WebSocket and 2 event-stream members; one WebSocket member closes with a close frame,
          the other drops its socket, one event-stream member drops its socket: the room counts 1,
          the last member still receives, then leaves too and the room counts 0
Prints one line per check, `ok ...` or `FAIL ...`, and `done` at the end; exits 1 on failure.
"""
import asyncio
import http.client
import json
import socket
import sys
import time

failures = 0


def check(what, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


class Http:
    """A keep-alive HTTP/1.1 connection for POSTs and room counts (blocking; run in a thread)."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, room, text, sender="poster"):
        self.connection.request("POST", f"/rooms/{room}/messages", body=json.dumps({"text": text, "from": sender}),
                                headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 202:
            raise RuntimeError(f"POST answered {response.status}: {body[:200]!r}")
        return json.loads(body)

    def summary(self, room):
        self.connection.request("GET", f"/rooms/{room}")
        response = self.connection.getresponse()
        return json.loads(response.read())

    def members(self, room):
        return self.summary(room)["members"]


async def wait_for_members(port, room, count, timeout=10):
    deadline = time.monotonic() + timeout
    client = Http(port)
    while True:
        members = await asyncio.to_thread(client.members, room)
        if members == count:
            return True
        if time.monotonic() > deadline:
            print(f"     room {room} has {members} members, expected {count}", flush=True)
            return False
        await asyncio.sleep(0.05)


class EventStream:
    """An event-stream member on a plain socket: the chunked body decoded, events parsed."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.pending = ""

    @classmethod
    async def open(cls, port, room):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(f"GET /rooms/{room}/events HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or b"text/event-stream" not in head:
            raise RuntimeError(f"not an event stream: {head!r}")
        return cls(reader, writer)

    async def next_event(self):
        """The next (event name, data) or None at the end of the stream."""
        while "\n\n" not in self.pending:
            size_line = await self.reader.readline()
            if not size_line:
                return None
            size = int(size_line.strip(), 16)
            if size == 0:
                return None
            chunk = await self.reader.readexactly(size + 2)
            self.pending += chunk[:-2].decode()
        block, self.pending = self.pending.split("\n\n", 1)
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if not data:  # a comment (keep-alive)
            return await self.next_event()
        return name, json.loads("\n".join(data))

    def drop(self):
        self.writer.transport.abort()


async def websocket(port, room, sender):
    import websockets
    socket_ = await websockets.connect(f"ws://127.0.0.1:{port}/rooms/{room}/ws?from={sender}", max_size=2**20)
    joined = json.loads(await socket_.recv())
    if joined.get("type") != "joined":
        raise RuntimeError(f"first message is not joined: {joined}")
    return socket_


async def collect_websocket(socket_, count):
    messages = []
    while len(messages) < count:
        event = json.loads(await socket_.recv())
        if event["type"] == "message":
            messages.append(event)
    return messages


async def collect_stream(stream, count):
    messages = []
    while len(messages) < count:
        event = await stream.next_event()
        if event is None:
            break
        if event[0] == "message":
            messages.append(event[1])
    return messages


def check_ordered(who, messages, count, senders):
    check(f"{who} received {count} messages", len(messages) == count)
    check(f"{who} sequence numbers 1...{count} in order", [m["seq"] for m in messages] == list(range(1, count + 1)))
    for sender, prefix in senders:
        texts = [m["text"] for m in messages if m["from"] == sender]
        expected = [f"{prefix}{i}" for i in range(len(texts))]
        check(f"{who} has {sender}'s messages in the order sent", texts == expected)


async def fanout(port, room):
    sockets = [await websocket(port, room, f"ws{i}") for i in range(3)]
    streams = []
    for _ in range(2):
        stream = await EventStream.open(port, room)
        event = await stream.next_event()
        check("event stream starts with joined", event is not None and event[0] == "joined")
        streams.append(stream)
    # More WebSocket members until the room spans two workers (the kernel spreads connections
    # over the workers' listeners), so the messages cross between workers.
    client = Http(port)
    while (await asyncio.to_thread(client.summary, room))["workers"] < 2 and len(sockets) < 19:
        sockets.append(await websocket(port, room, f"ws{len(sockets)}"))
    check(f"room spans two workers ({len(sockets) + 2} members)", (await asyncio.to_thread(client.summary, room))["workers"] == 2)
    check("room counts every member", await wait_for_members(port, room, len(sockets) + 2))

    def post_all():
        client = Http(port)
        for i in range(100):
            client.post(room, f"post-{i}", "poster")

    async def send_all():
        for i in range(100):
            await sockets[0].send(f"ws-{i}")

    collectors = [asyncio.create_task(collect_websocket(s, 200)) for s in sockets]
    collectors += [asyncio.create_task(collect_stream(s, 200)) for s in streams]
    await asyncio.gather(asyncio.to_thread(post_all), send_all())
    results = await asyncio.wait_for(asyncio.gather(*collectors), 30)
    ok = True
    for i, messages in enumerate(results):
        before = failures
        check_ordered(f"member {i}", messages, 200, [("poster", "post-"), ("ws0", "ws-")])
        ok = ok and failures == before
    check(f"all {len(results)} members received the 200 messages in order", ok)
    check("every member received the same list", all(r == results[0] for r in results))
    for s in sockets:
        await s.close()
    for s in streams:
        s.drop()
    check("room empties", await wait_for_members(port, room, 0))


async def slow(port, room):
    fast_socket = await websocket(port, room, "fast")
    fast_stream = await EventStream.open(port, room)
    await fast_stream.next_event()
    # The slow members: plain sockets with small receive buffers that send their request and
    # never read again.
    def slow_member(request):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request.encode())
        return sock

    slow_socket = slow_member(f"GET /rooms/{room}/ws?from=slow HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n")
    slow_stream = slow_member(f"GET /rooms/{room}/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
    check("room counts 4 members", await wait_for_members(port, room, 4))

    text = "x" * 14990

    def post_all():
        client = Http(port)
        for i in range(600):
            client.post(room, f"{i:010d}" + text, "poster")

    fast = [asyncio.create_task(collect_websocket(fast_socket, 600)), asyncio.create_task(collect_stream(fast_stream, 600))]
    started = time.monotonic()
    await asyncio.to_thread(post_all)
    results = await asyncio.wait_for(asyncio.gather(*fast), 60)
    print(f"     600 messages to the fast members in {time.monotonic() - started:.2f} s", flush=True)
    for who, messages in zip(["fast WebSocket member", "fast event-stream member"], results):
        check(f"{who} received 600 messages", len(messages) == 600)
        check(f"{who} in order", [m["seq"] for m in messages] == list(range(1, 601))
              and [int(m["text"][:10]) for m in messages] == list(range(600)))
    check("the slow members left the room", await wait_for_members(port, room, 2))

    # The slow members' connections end: reading what is buffered reaches the end of the stream.
    def drained_to_end(sock):
        sock.settimeout(10)
        total = 0
        try:
            while True:
                data = sock.recv(1 << 16)
                if not data:
                    return True, total
                total += len(data)
        except (socket.timeout, TimeoutError):
            return False, total
        except ConnectionResetError:
            return True, total

    ended, total = await asyncio.to_thread(drained_to_end, slow_socket)
    check(f"the slow WebSocket member's connection ended ({total} bytes before)", ended and total < 600 * 15000)
    ended, total = await asyncio.to_thread(drained_to_end, slow_stream)
    check(f"the slow event-stream member's connection ended ({total} bytes before)", ended and total < 600 * 15000)
    await fast_socket.close()
    fast_stream.drop()
    check("room empties", await wait_for_members(port, room, 0))


async def leave(port, room):
    closing = await websocket(port, room, "closing")
    dropping = await websocket(port, room, "dropping")
    dropped_stream = await EventStream.open(port, room)
    await dropped_stream.next_event()
    staying = await EventStream.open(port, room)
    await staying.next_event()
    check("room counts 4 members", await wait_for_members(port, room, 4))
    await closing.close(1000, "bye")
    check("a close frame answered with 1000", closing.close_code == 1000)
    dropping.transport.abort()
    dropped_stream.drop()
    check("the members that left are gone from the room", await wait_for_members(port, room, 1))
    receipt = await asyncio.to_thread(Http(port).post, room, "still here?")
    check("a message reaches the one member left", receipt["members"] == 1)
    event = await asyncio.wait_for(staying.next_event(), 10)
    check("the staying member receives it", event is not None and event[1]["text"] == "still here?")
    staying.drop()
    check("room empties", await wait_for_members(port, room, 0))


async def main():
    scenario, port, room = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    await {"fanout": fanout, "slow": slow, "leave": leave}[scenario](port, room)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:  # reported as a failed check, so the test shows it
        check(f"scenario ran without an exception: {error!r}", False)
    print("done", flush=True)
    sys.exit(1 if failures else 0)
