#!/usr/bin/env python3
"""The differential run: the same bytes through Spindle's request parser and Python's h11.

Inputs: the committed request corpus (Fuzz/corpus/request-parser) and mutations of it made
here (deterministic: --seed). Spindle's verdict comes from spindle-request-verdict (one line
per file, first request only); h11's from h11.Connection(our_role=SERVER). Both are reduced to
the same canonical form: reject, incomplete, or accept with method, target, version, the
header list (names and values as received) and the body length.

Every disagreement is a failure unless it falls under one of the documented exceptions
(SPINDLE_STRICTER and H11_STRICTER below, explained in Docs/fuzzing.md): places where RFC 9112 lets a recipient
choose and Spindle chose to reject what h11 accepts, or where h11 differs from the RFC.

    Fuzz/differential.py --verdict PATH/spindle-request-verdict [--mutations 20000] [--seed 1]

Exit status 0 when every disagreement is an exception; 1 otherwise (the first ones are
printed, all are written to --report).
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile

import h11

# --- h11's verdict ---------------------------------------------------------------------------

H11_MAX_EVENT = 16 * 1024 + 8 * 1024 + 64  # Spindle's default head budget (target + fields)


def h11_verdict(data):
    if not data:
        return ("incomplete-head",)  # h11 takes receive_data(b"") for the peer's EOF
    conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=H11_MAX_EVENT)
    try:
        conn.receive_data(data)
        request = None
        body = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return ("incomplete-body",) if request else ("incomplete-head",)
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                headers = tuple((bytes(n), bytes(v)) for n, v in request.headers.raw_items())
                return ("accept", bytes(request.method), bytes(request.target),
                        bytes(request.http_version).decode(), body, headers)
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return ("incomplete-head",)
    except h11.RemoteProtocolError as error:
        return ("reject", str(error))


# --- Spindle's verdict -----------------------------------------------------------------------

def parse_spindle_line(line):
    parts = line.split(" ")
    if parts[0] == "accept":
        unhex = lambda s: b"" if s == "-" else bytes.fromhex(s)
        count = int(parts[5])
        headers = tuple((unhex(f.split(":")[0]), unhex(f.split(":")[1])) for f in parts[6:6 + count])
        return ("accept", unhex(parts[1]), unhex(parts[2]), parts[3], int(parts[4]), headers)
    if parts[0] == "reject":
        return ("reject", parts[1])
    return (parts[0],)


def spindle_verdicts(verdict_tool, paths):
    verdicts = []
    for start in range(0, len(paths), 2000):
        batch = paths[start:start + 2000]
        out = subprocess.run([verdict_tool] + batch, check=True, capture_output=True).stdout.decode()
        lines = out.splitlines()
        if len(lines) != len(batch):
            sys.exit(f"spindle-request-verdict printed {len(lines)} lines for {len(batch)} inputs")
        verdicts += [parse_spindle_line(line) for line in lines]
    return verdicts


# --- Documented exceptions -------------------------------------------------------------------
# Each: (name, predicate(data, spindle, h11) -> bool). Docs/fuzzing.md gives the reasons.

# Where Spindle rejects what h11 accepts (or has not decided on yet): the reason Spindle
# gives, and why rejecting is right or allowed. h11 is a permissive parser by design (it leaves
# Host, versions, Expect and the like to the application, and replaces obs-fold).
SPINDLE_STRICTER = {
    "bareLineFeed": "bare LF ends a line: RFC 9112 §2.2 MAY accept it; Spindle rejects it (request smuggling through LF-only lines)",
    "bareCarriageReturn": "bare CR: RFC 9112 §2.2 MUST treat it as invalid or replace it; Spindle rejects",
    "lineFolding": "obs-fold: RFC 9112 §5.2 lets a server reject it (400) or replace it; Spindle rejects, h11 replaces",
    "invalidHost": "Host that is not a valid authority: RFC 9112 §3.2 says a server MUST answer 400; h11 does not check",
    "duplicateHost": "more than one Host line: RFC 9112 §3.2 says a server MUST answer 400; h11 does not check",
    "invalidRequestTarget": "request-target bytes outside RFC 3986 (NUL, controls, non-ASCII, userinfo in absolute-form per RFC 9110 §4.2.4); h11 accepts any non-whitespace byte",
    "invalidFieldValue": "control characters in a field value: RFC 9110 §5.5 says reject or replace; Spindle rejects, h11 lets some through",
    "duplicateContentLength": "repeated Content-Length lines: RFC 9112 §6.3 allows accepting identical ones; Spindle rejects every repetition",
    "invalidContentLength": "a Content-Length list (1,1): RFC 9112 §6.3 allows accepting identical members; Spindle accepts one decimal only",
    "contentLengthWithTransferEncoding": "Content-Length with Transfer-Encoding: RFC 9112 §6.3 lets a server reject it; Spindle rejects (request smuggling), h11 uses the chunked framing",
    "transferEncodingInHTTP10": "Transfer-Encoding in HTTP/1.0: RFC 9112 §6.1 says to treat the framing as faulty; Spindle rejects",
    "invalidChunkSize": "chunk-size followed by whitespace without an extension: not RFC 9112 §7.1 grammar; h11 accepts it",
    "invalidChunkExtension": "control characters in a chunk extension: not RFC 9112 §7.1.1 grammar; h11 skips extensions unread",
    "missingHost": "no Host in HTTP/1.x with x >= 1: Spindle treats 1.2 as 1.1 (RFC 9110 §2.5), where RFC 9112 §3.2 requires Host; h11 requires it for exactly 1.1",
    "invalidTransferEncoding": "an empty Transfer-Encoding (for example one whose value only comes on an obs-fold line): Spindle rejects, h11 joins the fold",
    "chunkSizeOverflow": "a chunk size over 63 bits: Spindle rejects at once; h11 waits for the data",
    "unsupportedVersion": "HTTP/0.9 and 2.0+ on an HTTP/1.1 connection: Spindle answers 505; h11 leaves the version to the application",
    "connectNotSupported": "CONNECT: Spindle is not a proxy and answers 501; h11 parses it",
    "asteriskFormRequiresOPTIONS": "* as the target of a method other than OPTIONS: RFC 9112 §3.2.4; h11 does not check",
    "unsupportedExpectation": "an Expect other than 100-continue: RFC 9110 §10.1.1 allows 417; h11 leaves Expect to the application",
    "methodTooLong": "a limit: methods over 32 bytes (none is implemented); h11 has no such limit",
    "requestTargetTooLong": "a limit: the 8 KiB request-target (414); h11 counts the head as a whole",
    "headerSectionTooLarge": "a limit: the 16 KiB field section (431); h11 counts the head as a whole",
    "tooManyFields": "a limit: 100 fields (431); h11 has no count limit",
    "contentTooLarge": "a limit: the 1 MiB body (413); h11 has none",
}

# Where h11 rejects what Spindle accepts: h11 is stricter than RFC 9112 here.
H11_STRICTER = [
    ("chunk-ext with BWS before ';' (RFC 9112 §7.1.1 allows BWS; h11 does not)",
     lambda d, s, h: s[0] != "reject" and h[0] == "reject" and "illegal chunk header" in h[1]),
    ("empty lines before the request line (RFC 9112 §2.2: a server SHOULD ignore at least one; h11 rejects)",
     lambda d, s, h: s[0] != "reject" and h[0] == "reject" and d.startswith((b"\r", b"\n"))
     and ("no request line" in h[1] or "illegal request line" in h[1])),
    ("empty list members in Transfer-Encoding (RFC 9110 §5.6.1: a recipient MUST accept them; h11 rejects)",
     lambda d, s, h: s[0] != "reject" and h[0] == "reject" and "Transfer-Encoding" in h[1]
     and any(m.strip() == b"" for m in field_value(d, b"transfer-encoding").split(b","))),
    ("a Transfer-Encoding trailer field (RFC 9110 §6.5.1: trailers must not change framing; Spindle validates and discards trailers, h11 applies its Transfer-Encoding rule to them)",
     lambda d, s, h: s[0] != "reject" and h[0] == "reject" and "Transfer-Encoding" in h[1]
     and b"transfer-encoding:" in d.split(b"\r\n\r\n", 1)[-1].lower()),
]


def field_value(data, name):
    """The value of the first field line named `name` (lowercase) in the head of `data`."""
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        field, colon, value = line.partition(b":")
        if colon and field.lower() == name:
            return value.strip(b" \t")
    return b""


def classify(data, s, h):
    """None when the verdicts agree, else the name of the exception, else DISAGREEMENT."""
    if canonical(s) == canonical(h):
        return None
    if s[0] == "reject" and h[0] in ("incomplete-head", "incomplete-body"):
        # Spindle decides byte by byte; h11 looks at a head (or chunk line) once it is whole.
        return "early rejection: Spindle rejects at the first invalid byte, h11 waits for the end of the head or chunk line"
    if s[0] == "reject" and h[0] != "reject" and s[1] in SPINDLE_STRICTER:
        return "Spindle stricter: " + SPINDLE_STRICTER[s[1]]
    for name, applies in H11_STRICTER:
        if applies(data, s, h):
            return "h11 stricter: " + name
    if s[0] == "accept" and h[0] == "accept" and s[:5] == h[:5] and len(s[5]) == len(h[5]):
        # h11 rewrites the Transfer-Encoding value to lowercase without whitespace; the rest
        # must be byte for byte the same.
        same = all(a == b or (a[0].lower() == b"transfer-encoding" and a[0] == b[0] and a[1].lower().strip() == b[1])
                   for a, b in zip(s[5], h[5]))
        if same:
            return "h11 normalises the Transfer-Encoding value (lowercase, trimmed); Spindle keeps the bytes received"
    return "DISAGREEMENT"


def canonical(v):
    """What is compared: rejections compare as 'reject' (the reasons are each parser's own words)."""
    return ("reject",) if v[0] == "reject" else v


# --- Mutations -------------------------------------------------------------------------------

INTERESTING = [b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b";", b",", b"\x00", b"\x7f", b"\x80", b"\xff",
               b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"Host: h\r\n", b"0\r\n\r\n",
               b"5\r\nhello\r\n", b"HTTP/1.0", b"HTTP/1.1", b"Connection: close\r\n", b"%", b"?", b"#", b"/"]


def mutate(data, rng):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(INTERESTING)
        elif op == 2 and data:
            del data[pos:pos + rng.randint(1, 4)]
        elif op == 3:
            lines = bytes(data).split(b"\r\n")
            if len(lines) > 2:
                i = rng.randrange(1, len(lines) - 1)
                lines.insert(i, lines[i])  # duplicate a field line
                data = bytearray(b"\r\n".join(lines))
        elif op == 4 and data:
            data[pos:pos] = bytes([rng.randrange(256)])
        else:
            data = data.swapcase() if rng.random() < 0.1 else data
    return bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verdict", required=True, help="path of spindle-request-verdict")
    parser.add_argument("--corpus", action="append", default=[],
                        help="a directory of inputs (repeatable); default: the committed request corpus")
    parser.add_argument("--mutations", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", default=None, help="write every disagreement here")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    directories = args.corpus or [os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "request-parser")]
    seeds = [open(os.path.join(d, f), "rb").read() for d in directories for f in sorted(os.listdir(d))]
    inputs = list(seeds) + [mutate(rng.choice(seeds), rng) for _ in range(args.mutations)]

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, data in enumerate(inputs):
            path = os.path.join(tmp, f"{i:07d}")
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        spindle = spindle_verdicts(args.verdict, paths)

    counts = {}
    failures = []
    agreed = 0
    for data, s in zip(inputs, spindle):
        h = h11_verdict(data)
        kind = classify(data, s, h)
        if kind is None:
            agreed += 1
            continue
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "DISAGREEMENT":
            failures.append((data, s, h))

    print(f"differential: {len(inputs)} inputs ({len(seeds)} seeds, {args.mutations} mutations), {agreed} agree")
    for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {kind}")
    if args.report:
        with open(args.report, "w") as f:
            for data, s, h in failures:
                f.write(f"{data!r}\n  spindle: {s}\n  h11:     {h}\n")
    for data, s, h in failures[:15]:
        print(f"\n{data!r}\n  spindle: {s}\n  h11:     {h}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
