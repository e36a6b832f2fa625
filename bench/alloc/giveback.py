"""The give-back phase of `make -C bench alloc` (bench/alloc/run.py): after a load spike ends,
does the server's resident memory come back to what it was before? Imported by run.py, which
starts the server (fresh, its allocator verified) and warms it; not run by itself.

measure() samples the server's VmRSS (/proc/PID/status) at SAMPLE_HZ from its start to its end:

  baseline  BASELINE seconds of the warmed, idle server: the pre-spike RSS is their median
  spike     VmHWM reset (/proc/PID/clear_refs), then SIZE connections from this process, pinned to
            the client CPU: all opened at once (non-blocking connect), each sending `POST /echo`
            with a 64 KiB body as soon as it is connected and reading the whole 64 KiB echo, every
            socket on one selector, none closed before the last response arrived (or SPIKE_TIMEOUT
            passed); then all closed with a reset (SO_LINGER 0: no TIME_WAIT left to exhaust the
            ephemeral ports for the next server). Peak RSS = VmHWM after the last close
  after     WATCH seconds from the last close: the give-back

recovery() reads the samples after the spike: the time from which RSS stays within GOAL_RATIO
of the baseline to the end of the window (RSS below the baseline counts as within), RSS at
GOAL_SECONDS, and the verdict: PASS when that time is at most GOAL_SECONDS.
Standard library only.
"""
import collections
import errno
import os
import selectors
import socket
import statistics
import sys
import threading
import time

import idle  # bench/peers/idle.py: reason(), close_with_reset()

SAMPLE_HZ = 4
BODY_SIZE = 65536
GOAL_RATIO = 1.10  # "within 10 % of its pre-spike value"
GOAL_SECONDS = 30  # "within 30 s"
SPIKE_TIMEOUT = 120  # seconds the spike may take; connections unanswered by then count as failed
RECV_SIZE = 256 * 1024


def vm_status(pid):
    """VmRSS and VmHWM of /proc/PID/status, KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


class Sampler(threading.Thread):
    """Reads the server's VmRSS every 1/SAMPLE_HZ s (on a fixed schedule, not drifting with the
    reads) until stop(); `samples` is [(monotonic seconds, KiB)]."""

    def __init__(self, pid):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid, self.samples, self.stopped = pid, [], threading.Event()

    def run(self):
        period, next_tick = 1 / SAMPLE_HZ, time.monotonic()
        while not self.stopped.is_set():
            try:
                self.samples.append((time.monotonic(), vm_status(self.pid)["VmRSS"]))
            except (FileNotFoundError, ProcessLookupError, KeyError):
                return  # the server is gone; measure() notices
            next_tick += period
            self.stopped.wait(max(0.0, next_tick - time.monotonic()))

    def stop(self):
        self.stopped.set()
        self.join()


# ---------------------------------------------------------------- the spike

class Exchange:
    """One spike connection: connecting → sending the request → reading the response → done."""
    __slots__ = ("sock", "state", "sent", "head", "body_left")

    def __init__(self, sock):
        self.sock, self.state, self.sent, self.head, self.body_left = sock, "connecting", 0, b"", None


def request_bytes(port):
    head = (f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {BODY_SIZE}\r\n\r\n").encode()
    return head + b"a" * BODY_SIZE


def parse_head(head):
    """(status, Content-Length or None) of a response head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    return status, length


def spike(port, size):
    """Opens `size` connections at once, one 64 KiB echo on each, all in flight together; closes
    them all (reset) once every response is in or SPIKE_TIMEOUT passed. Returns (answered,
    failures Counter, seconds to open, seconds in all)."""
    request = memoryview(request_bytes(port))
    failures = collections.Counter()
    exchanges, answered = [], 0
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    try:
        for _ in range(size):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            code = s.connect_ex(("127.0.0.1", port))
            if code not in (0, errno.EINPROGRESS):
                failures[f"connect {errno.errorcode.get(code, code)}"] += 1
                s.close()
                continue
            x = Exchange(s)
            exchanges.append(x)
            selector.register(s, selectors.EVENT_WRITE, x)
        opened = time.monotonic() - started
        pending = len(exchanges)

        def fail(x, why):
            nonlocal pending
            failures[why] += 1
            selector.unregister(x.sock)
            x.state = "failed"
            pending -= 1

        deadline = started + SPIKE_TIMEOUT
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                x = key.data
                if x.state == "connecting":
                    code = x.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        fail(x, f"connect {errno.errorcode.get(code, code)}")
                        continue
                    x.state = "sending"
                if x.state == "sending":
                    try:
                        x.sent += x.sock.send(request[x.sent:])
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        fail(x, f"send {idle.reason(e)}")
                        continue
                    if x.sent == len(request):
                        x.state = "reading"
                        selector.modify(x.sock, selectors.EVENT_READ, x)
                    continue
                try:
                    chunk = x.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(x, f"recv {idle.reason(e)}")
                    continue
                if not chunk:
                    fail(x, "closed before the whole response")
                    continue
                if x.body_left is None:
                    x.head += chunk
                    end = x.head.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    status, length = parse_head(x.head[:end])
                    if status != 200 or length != BODY_SIZE:
                        fail(x, f"answered {status} with Content-Length {length}")
                        continue
                    x.body_left = length - (len(x.head) - end - 4)
                    x.head = x.head[:end]
                else:
                    x.body_left -= len(chunk)
                if x.body_left == 0:
                    selector.unregister(x.sock)
                    x.state = "done"
                    answered += 1
                    pending -= 1
                elif x.body_left < 0:
                    fail(x, "more bytes than Content-Length")
        if pending:
            failures[f"no response within {SPIKE_TIMEOUT} s"] += pending
    finally:
        selector.close()
        idle.close_with_reset([x.sock for x in exchanges])
    return answered, failures, opened, time.monotonic() - started


# ---------------------------------------------------------------- one turn and its reading

def measure(server, port, size, client_cpu, baseline_seconds, watch_seconds):
    """The give-back turn against a running, warmed server (see the module's doc). Returns a dict
    with the samples ([(phase, seconds since the last close, KiB)]) and the spike's numbers."""
    sampler = Sampler(server.pid)
    sampler.start()
    time.sleep(baseline_seconds)
    spike_started = time.monotonic()
    with open(f"/proc/{server.pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS (Linux 4.0+)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {client_cpu})
    try:
        answered, failures, open_s, spike_s = spike(port, size)
    finally:
        os.sched_setaffinity(0, affinity)
    ended = time.monotonic()
    peak = vm_status(server.pid)["VmHWM"]
    time.sleep(max(0.0, ended + watch_seconds + 0.5 / SAMPLE_HZ - time.monotonic()))
    sampler.stop()
    if server.poll() is not None:
        raise RuntimeError(f"the server exited with status {server.returncode} during the give-back turn")
    samples = []
    for t, kib in sampler.samples:
        phase = "baseline" if t < spike_started else "spike" if t < ended else "after"
        samples.append((phase, t - ended, kib))
    baseline = statistics.median(kib for phase, _, kib in samples if phase == "baseline")
    return {"samples": samples, "baseline_kib": baseline, "peak_kib": max(peak, baseline), "answered": answered,
            "failures": failures, "open_s": open_s, "spike_s": spike_s, "watch_s": watch_seconds}


def recovery(samples, baseline_kib):
    """From the samples after the spike: (seconds until RSS is within GOAL_RATIO of the baseline and
    stays there to the end of the window, or None; RSS at GOAL_SECONDS, or None when the window
    is shorter; verdict "PASS"/"FAIL", or "—" when the window is shorter than GOAL_SECONDS)."""
    after = [(t, kib) for phase, t, kib in samples if phase == "after"]
    limit = baseline_kib * GOAL_RATIO
    back = None
    for t, kib in reversed(after):
        if kib > limit:
            break
        back = t
    at_goal = next((kib for t, kib in after if t >= GOAL_SECONDS), None)
    if at_goal is None:
        return back, None, "—"
    return back, at_goal, "PASS" if back is not None and back <= GOAL_SECONDS else "FAIL"


# ---------------------------------------------------------------- report

def mib(kib):
    return "—" if kib is None else f"{kib / 1024:,.1f} MiB"


def table(turns, size):
    """The Markdown table (also printed): one row per allocator. `turns` is [(allocator, measure()
    result with `verified_ok`)]."""
    out = [f"\n**give-back** ({size:,} connections at once, each `POST /echo` with a 64 KiB body and its echo read; "
           f"RSS sampled at {SAMPLE_HZ} Hz; goal: within {round((GOAL_RATIO - 1) * 100)} % of the pre-spike RSS "
           f"{GOAL_SECONDS} s after the last close)\n",
           "| allocator | answered | spike | pre-spike RSS | peak RSS | RSS at 30 s | at 30 s / pre-spike "
           "| back within 10 % after | verdict |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in turns:
        back, at_goal, verdict = recovery(r["samples"], r["baseline_kib"])
        label = name + ("" if r["verified_ok"] else " **(not verified)**")
        ratio = "—" if at_goal is None else f"{at_goal / r['baseline_kib']:.2f}"
        back_text = f"{max(0.0, back):.2f} s" if back is not None else f"not within {r['watch_s']:g} s"
        out.append(f"| {label} | {r['answered']:,} of {size:,} | {r['spike_s']:.1f} s | {mib(r['baseline_kib'])} "
                   f"| {mib(r['peak_kib'])} | {mib(at_goal)} | {ratio} | {back_text} | {verdict} |")
    out.append(f"\nspike: from the first connect to the last close; back within 10 %: the first sample after the "
               f"last close from which every sample to the end of the {turns[0][1]['watch_s']:g} s window is at most "
               f"{GOAL_RATIO:.2f} × the pre-spike RSS (the median of the samples before the spike); "
               f"RSS at 30 s: the first sample at or after 30 s.")
    return out


def write_samples(path, turns):
    """allocator, phase, seconds since the last close of the spike, RSS (KiB): every sample."""
    with open(path, "w") as f:
        f.write("allocator,phase,seconds,rss_kib\n")
        for name, r in turns:
            for phase, t, kib in r["samples"]:
                f.write(f"{name},{phase},{t:.3f},{kib}\n")


def plot(path, turns, size):
    """RSS over time, one line per allocator, its pre-spike RSS dashed, the 30 s mark; left the
    whole turn, right the window after the spike near the baseline. False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
               "#64b5cd"]
    colors = [palette[i % len(palette)] for i in range(len(turns))]
    fig, (whole, near) = plt.subplots(1, 2, figsize=(15, 5))
    baselines = [r["baseline_kib"] / 1024 for _, r in turns]
    for (name, r), color in zip(turns, colors):
        ts = [t for _, t, _ in r["samples"]]
        rss = [kib / 1024 for _, _, kib in r["samples"]]
        base = r["baseline_kib"] / 1024
        for ax in (whole, near):
            ax.plot(ts, rss, color=color, label=name, linewidth=1.2)
            ax.axhline(base, color=color, linestyle="--", linewidth=0.8)
        near.axhline(base * GOAL_RATIO, color=color, linestyle=":", linewidth=0.8)
    for ax in (whole, near):
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.axvline(GOAL_SECONDS, color="black", linestyle="-.", linewidth=0.9)
        ax.set_xlabel("seconds since the spike's last close")
        ax.set_ylabel("RSS (MiB)")
        ax.grid(alpha=0.3)
    whole.set_title("whole turn: pre-spike, spike (before 0), give-back")
    whole.legend(fontsize=8)
    near.set_xlim(-1, max(r["watch_s"] for _, r in turns) + 1)
    near.set_ylim(0.8 * min(baselines), 2 * max(baselines))
    near.set_title(f"after the spike: pre-spike RSS dashed, +{round((GOAL_RATIO - 1) * 100)} % dotted, "
                   f"{GOAL_SECONDS} s mark")
    fig.suptitle(f"Spindle Hello, one worker: RSS after a spike of {size:,} × 64 KiB echoes, per allocator")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(directory, name, turns, size, header):
    """DIRECTORY/NAME-giveback.csv (every sample), NAME-giveback.png (without matplotlib: none, and
    a warning) and NAME-giveback.md (`header`, the table, the allocators verified). Returns (the
    table's Markdown lines, with the plot's link, for NAME.md too; the paths written)."""
    md = table(turns, size)
    paths = [os.path.join(directory, f"{name}-giveback.csv")]
    write_samples(paths[0], turns)
    png = os.path.join(directory, f"{name}-giveback.png")
    if plot(png, turns, size):
        md.append(f"\n![{os.path.basename(png)}]({os.path.basename(png)})")
        paths.append(png)
    else:
        print("bench-alloc: matplotlib is missing (pip install matplotlib): no give-back plot", file=sys.stderr)
    paths.append(os.path.join(directory, f"{name}-giveback.md"))
    with open(paths[-1], "w") as f:
        f.write(f"# Allocators: memory given back ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n{header}\n")
        f.write("\n".join(md) + "\n\n| allocator | verified |\n|---|---|\n")
        for allocator, r in turns:
            f.write(f"| {allocator} | {r['verified']} |\n")
    return md, paths
