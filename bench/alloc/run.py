#!/usr/bin/env python3
"""The allocator benchmark behind `make bench-alloc` / `make -C bench alloc`.

Spindle's Hello server (Examples/Hello, `--workers 1`, pinned to SERVER_CPU) with each process
allocator, and with pools and arenas switched off:

  mimalloc             the default build (package trait `Mimalloc`: libmimalloc linked)
  glibc                built with `--disable-default-traits` (glibc malloc)
  jemalloc             the glibc build with LD_PRELOAD=libjemalloc.so.2
  tcmalloc             the glibc build with LD_PRELOAD=libtcmalloc_minimal.so.4
  mimalloc, pools off  the default build with SPINDLE_POOLS=off (ObjectPool keeps nothing,
                       RequestArena mallocs every allocation)
  mimalloc, no shim    the default build without allocstats.so: plaintext only, to show what
                       the counting costs (no allocator statistics for this row)

Every server runs with bench/alloc/allocstats.so preloaded first (see allocstats.c): it counts
malloc/free calls and live bytes and, on SIGUSR2, writes which allocator serves malloc (by the
allocator's own ownership test of a probe block) and the allocator's own statistics. Each turn
starts a fresh server, checks which allocator is really active (the shim's report, the library
in /proc/PID/maps, the probe blocks' mappings) and prints it; a mismatch is a FAIL.

Workloads (wrk -t1 pinned to CLIENT_CPU, 64 keep-alive connections, one request per write):

  plaintext  GET /plaintext        ("Hello, World!")
  json       GET /json             ({"message":"Hello, World!"})
  echo       POST /echo, 64 KiB    (echo.lua; the body comes back)
  idle       IDLE connections (10,000) opened from this process pinned to CLIENT_CPU, in batches of
             256, one GET /plaintext each, then held (bench/peers/idle.py's client)

Per turn: req/s and p50/p99 latency (wrk; pipeline.lua's RAWLAT line), peak RSS (VmHWM, reset
through /proc/PID/clear_refs before the load), steady RSS (VmRSS SETTLE s after the load, or
with the idle connections held), VSZ (VmSize), allocations per second and per request (the
shim's count over the load), bytes in use (the allocator's own statistics: jemalloc
stats.allocated, tcmalloc generic.current_allocated_bytes, glibc mallinfo2; for mimalloc, whose
Debian build keeps none, the shim's live bytes) and the fragmentation ratio RSS / in use (and
the allocator's own held bytes / in use where it reports them).

Turns rotate through the variants, REPS per workload (one for idle); medians over the turns.
Writes OUT/NAME.csv (every turn and median), NAME.md (the tables and the allocator verified in
every turn) and NAME-rps.png, NAME-rss.png (matplotlib, Agg); NAME is `alloc` by default.

Give-back (after the turns above, or alone with --giveback-only; --spike 0 skips it): for each of
mimalloc, glibc, jemalloc and tcmalloc, a fresh server warmed by WARMUP s of the echo workload,
its RSS sampled at 4 Hz for BASELINE s (the pre-spike RSS: their median), then a spike of SPIKE
connections (10,000) opened at once, each POSTing a 64 KiB body to /echo and reading the echo,
all held until the last response, then closed; RSS sampled for WATCH s (40) after the last close.
Reports the peak RSS (VmHWM), RSS at 30 s, the time until RSS is back within 10 % of the
pre-spike RSS and stays there, and PASS/FAIL for "within 10 % by 30 s" (giveback.py). Writes
OUT/NAME-giveback.csv (every sample), NAME-giveback.md (the table; also in NAME.md) and
NAME-giveback.png.

Tuning (--tune ALLOCATORS, `make -C bench alloc-tune`): the give-back phase alone, for each named
allocator (comma-separated, or `all`) the untuned turn and then one turn per setting of
bench/alloc/tuning.py (the seed's tuning tables: mimalloc options, jemalloc MALLOC_CONF,
tcmalloc and glibc environment variables), each a fresh server with that environment; the
verified line of each turn shows the settings the allocator reports it runs with (allocstats.so's
`knobs=`). --env KEY=VALUE (repeatable) adds to the environment of every server of any run.

A/B of settings (--ab LABEL[;LABEL...], `make -C bench alloc-ab`): req/s only, no give-back: the
untuned allocator of the first label and each labelled setting of tuning.py, fresh servers, REPS
turns of SECONDS per workload (plaintext and echo), the variants rotating every repetition as
in the matrix; medians and each setting's ratio to the untuned row (OUT/NAME-ab.md).

Exit status 0 when every measurement ran (every spike connection answered) and every allocator
was verified, 1 otherwise; a give-back FAIL is a result, not an error. Standard library only,
plus matplotlib for the plots. See Docs/benchmarks/alloc.md.
"""
import argparse
import collections
import copy
import os
import re
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "lib"), os.path.join(HERE, "..", "peers")]
import benchutil  # noqa: E402
import giveback  # noqa: E402  (bench/alloc/giveback.py: the give-back phase)
import tuning  # noqa: E402  (bench/alloc/tuning.py: the settings --tune measures)
import idle  # noqa: E402  (bench/peers/idle.py: the idle keep-alive client of the peers benchmark)
from benchutil import (RetryBudget, add_wrk_arguments, die, fmt_us, install_cleanup, kept,  # noqa: E402
                       measured_turn, print_footer, print_header, probe, run_wrk, start_server, tool_version,
                       write_csv)

benchutil.PROGRAM = "bench-alloc"
benchutil.PORT_HINT = "pick other ports with ALLOC_PORT=... (make -C bench alloc ALLOC_PORT=7550)"

ALLOCATORS = ("mimalloc", "glibc", "jemalloc", "tcmalloc")
WORKLOADS = {  # name: (path, wrk script or None for the idle connections)
    "plaintext": ("/plaintext", os.path.join(HERE, "..", "http", "pipeline.lua")),
    "json": ("/json", os.path.join(HERE, "..", "http", "pipeline.lua")),
    "echo": ("/echo", os.path.join(HERE, "echo.lua")),
    "idle": ("/plaintext", None),
}
IDLE_BATCH = 256  # idle connections opened (and answered) before the next ones
POOLS_OFF = "mimalloc, pools off"
NO_SHIM = "mimalloc, no shim"
PACKAGES = ("libmimalloc2.0", "libjemalloc2", "libtcmalloc-minimal4", "libc6")


class Variant:
    def __init__(self, name, allocator, binary, preload, env=None, workloads=tuple(WORKLOADS), shim=True):
        self.name, self.allocator, self.binary, self.preload = name, allocator, binary, preload
        self.env, self.workloads, self.shim = env or {}, workloads, shim


def variants(args):
    shim = [args.shim]
    return [
        Variant("mimalloc", "mimalloc", args.mimalloc, shim),
        Variant("glibc", "glibc", args.glibc, shim),
        Variant("jemalloc", "jemalloc", args.glibc, shim + [args.jemalloc]),
        Variant("tcmalloc", "tcmalloc", args.glibc, shim + [args.tcmalloc]),
        Variant(POOLS_OFF, "mimalloc", args.mimalloc, shim, env={"SPINDLE_POOLS": "off"}),
        Variant(NO_SHIM, "mimalloc", args.mimalloc, [], workloads=("plaintext",), shim=False),
    ]


# ---------------------------------------------------------------- the server's memory and allocator

def proc_status(pid):
    """VmHWM, VmRSS, VmSize of /proc/PID/status in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "VmSize"):
                values[key] = int(rest.split()[0])
    return values


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (writing 5 to /proc/PID/clear_refs, Linux 4.0+)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def read_stats(path):
    stats = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    stats[key] = int(value) if value.lstrip("-").isdigit() else value
    except FileNotFoundError:
        pass
    return stats


def dump_stats(server, path):
    """SIGUSR2 to the server; allocstats.so's thread rewrites `path`. Returns the new report."""
    old = read_stats(path)
    before = old.get("seq", 0) if old.get("pid") == server.pid else 0
    os.kill(server.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stats = read_stats(path)
        if stats.get("pid") == server.pid and stats.get("seq", 0) > before:
            return stats
        time.sleep(0.01)
    die(f"no allocator report in {path} 5 s after SIGUSR2 (is allocstats.so preloaded?)")


def mappings(pid):
    """[(start, end, name)] of /proc/PID/maps; name is the path, [heap], or "" (anonymous)."""
    result = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            result.append((start, end, fields[5].strip() if len(fields) > 5 else ""))
    return result


def region(maps, address):
    for start, end, name in maps:
        if start <= address < end:
            return name or "anonymous"
    return None


def verify(server, variant, stats):
    """(ok, text): is the allocator serving malloc the one this variant is meant to measure?"""
    maps = mappings(server.pid)
    mapped = {os.path.realpath(name) for _, _, name in maps if name.startswith("/")}
    if not variant.shim:
        wanted = [name for name in mapped if variant.allocator in os.path.basename(name)]
        return bool(wanted), (f"{variant.allocator} (maps only: {os.path.basename(wanted[0])})" if wanted
                              else f"FAIL: no {variant.allocator} library in /proc/{server.pid}/maps")
    problems = []
    found = stats.get("allocator", "?")
    library = stats.get("malloc_from", "?")
    if found != variant.allocator:
        problems.append(f"malloc is {found} ({library}), expected {variant.allocator}")
    if os.path.realpath(library) not in mapped:
        problems.append(f"{library} not in /proc/{server.pid}/maps")
    if stats.get("usable_from") != library:
        problems.append(f"malloc_usable_size from {stats.get('usable_from')}, malloc from {library}")
    probes = {}
    for probe_name in ("probe_small", "probe_large"):
        where = region(maps, int(str(stats.get(probe_name, "0")), 16))
        probes[probe_name] = where
        if where is None or where.startswith("/"):
            problems.append(f"{probe_name} lies in {where or 'no mapping'}, not in heap memory")
    if variant.allocator == "glibc":
        if stats.get("symbols_present"):
            problems.append(f"another allocator's symbols are present: {stats['symbols_present']}")
        test = "no other allocator loaded"
    else:
        if stats.get("owned_small") != 1 or stats.get("owned_large") != 1:
            problems.append(f"{stats.get('owner_test', 'ownership test')} does not own the probes")
        test = f"{stats.get('owner_test')} owns the probes"
    if problems:
        return False, "FAIL: " + "; ".join(problems)
    knobs = f"; settings {stats['knobs']}" if stats.get("knobs") else ""
    return True, (f"{found} ({os.path.basename(library)}; {test}; 256 KiB probe in "
                  f"{probes['probe_large']}, 64 B probe in {probes['probe_small']}{knobs})")


def allocator_numbers(stats, steady_rss_kib):
    """In use, held, and the ratios, from one report taken at the steady point."""
    own = "own_in_use" in stats
    in_use = stats["own_in_use"] if own else stats.get("live_bytes", 0)
    held = stats.get("own_held")
    return {
        "live_kib": stats.get("live_bytes", 0) / 1024,
        "in_use_kib": in_use / 1024,
        "in_use_source": stats.get("own_stats", "").split(" /")[0] if own else "shim live bytes",
        "held_kib": held / 1024 if held is not None else float("nan"),
        "rss_per_in_use": steady_rss_kib * 1024 / in_use if in_use > 0 else float("nan"),
        "held_per_in_use": held / in_use if held is not None and in_use > 0 else float("nan"),
    }


def counted(before, after, per, per_second):
    """Allocations (and frees) between two reports, per unit of work and per second."""
    allocations = after["allocations"] - before["allocations"]
    frees = after["frees"] - before["frees"]
    own = after.get("own_requests", 0) - before.get("own_requests", 0) if "own_requests" in after else float("nan")
    return {"allocations": allocations, "allocs_per_unit": allocations / per if per else float("nan"),
            "frees_per_unit": frees / per if per else float("nan"),
            "allocs_per_s": allocations / per_second if per_second else float("nan"),
            # jemalloc's own count (small + large nrequests): a cross-check of the interposed one
            "own_allocs_per_unit": own / per if per else float("nan")}


# ---------------------------------------------------------------- turns

def launch(args, variant, workload, rep, port):
    """A fresh server for one turn; returns (server, stats path, verification)."""
    label = f"{variant.name.replace(', ', '-').replace(' ', '-')}-{workload}-{rep}"
    stats_path = os.path.join(args.workdir, f"stats-{label}")
    if os.path.exists(stats_path):
        os.remove(stats_path)  # a report of an earlier run
    env = dict(os.environ, **args.env, **variant.env)
    if variant.preload:
        env["LD_PRELOAD"] = " ".join(variant.preload)
        env["ALLOCSTATS_OUT"] = stats_path
    log = open(os.path.join(args.workdir, f"server-{label}.log"), "w")
    admin_port = port + ADMIN_PORT_OFFSET
    argv = [variant.binary, "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--admin-port", str(admin_port)]
    server = start_server(variant.name, argv, port, args.server_cpu, log, env=env)
    probe(variant.name, port)
    stats = dump_stats(server, stats_path) if variant.shim else {}
    ok, text = verify(server, variant, stats)
    ok, text = server_agrees(variant, admin_port, ok, text)
    return server, stats_path, ok, text


# The server's admin listener (its /metrics) is on the turn's port plus this.
ADMIN_PORT_OFFSET = 100
# What Spindle itself should call each allocator (spindle_allocator_info{allocator=…}): it has
# no name for tcmalloc, which it drives as a preloaded allocator ("other").
SERVER_NAMES = {"mimalloc": "mimalloc", "glibc": "glibc", "jemalloc": "jemalloc", "tcmalloc": "other"}


def server_agrees(variant, admin_port, ok, text):
    """The verification above is the benchmark's; Spindle decides for itself which allocator it
    runs on (and which release to ask for after a trim). A server that names another allocator
    than the one verified fails the turn: a release build once took glibc for an unknown one and
    never trimmed."""
    wanted = SERVER_NAMES.get(variant.allocator)
    if wanted is None:
        return ok, text
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    except OSError as e:
        return False, f"FAIL: the server's /metrics on admin port {admin_port}: {e}; " + text
    named = re.search(r'spindle_allocator_info\{allocator="([^"]*)"', metrics)
    said = named.group(1) if named else "nothing"
    if said != wanted:
        return False, f"FAIL: the server names its allocator {said}, expected {wanted}; " + text
    return ok, text + f"; the server names it {said}"


def stop(server):
    server.terminate()
    try:
        server.wait(timeout=3)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def wrk_turn(args, budget, variant, workload, rep, port):
    server, stats_path, ok, verified = launch(args, variant, workload, rep, port)
    path, lua = WORKLOADS[workload]
    wrk_args = copy.copy(args)
    wrk_args.lua = lua
    run_wrk(wrk_args, server, port, 1, args.warmup, path)

    def turn():
        reset_peak_rss(server.pid)
        before = dump_stats(server, stats_path) if variant.shim else None
        s = run_wrk(wrk_args, server, port, 1, args.seconds, path)
        after = dump_stats(server, stats_path) if variant.shim else None
        if before:
            s.update(counted(before, after, s["requests"], s["seconds"]))
        return s

    s = measured_turn(args, budget, f"{workload:<9} {variant.name}", turn)
    time.sleep(args.settle)
    status = proc_status(server.pid)
    s.update(peak_rss_kib=status["VmHWM"], steady_rss_kib=status["VmRSS"], vsz_kib=status["VmSize"])
    if variant.shim:
        s.update(allocator_numbers(dump_stats(server, stats_path), status["VmRSS"]))
    stop(server)
    return dict(s, verified=verified, verified_ok=int(ok))


def idle_turn(args, variant, rep, port):
    """Opens args.idle connections from this process (pinned to the client CPU meanwhile), one
    request each, and measures the server while it holds them; a connection refused, answered
    wrongly or closed counts as an error."""
    server, stats_path, ok, verified = launch(args, variant, "idle", rep, port)
    time.sleep(args.settle)
    baseline = proc_status(server.pid)
    before = dump_stats(server, stats_path)
    reset_peak_rss(server.pid)
    request = f"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {args.client_cpu})
    failures, held, alive = collections.Counter(), [], []
    try:
        started = time.monotonic()
        with selectors.DefaultSelector() as selector:
            while len(held) < args.idle:
                got = idle.open_batch(port, min(IDLE_BATCH, args.idle - len(held)), request, b"Hello, World!",
                                      selector, failures)
                held += got
                if not got:  # a whole batch failed: the server holds no more
                    break
        seconds = time.monotonic() - started
        time.sleep(args.settle)
        alive = [s for s in held if idle.still_open(s)]
        status = proc_status(server.pid)
        after = dump_stats(server, stats_path)
    finally:
        idle.close_with_reset(held)
        os.sched_setaffinity(0, affinity)
    stop(server)
    if len(alive) < args.idle:
        failures["closed while idle"] += len(held) - len(alive)
        print(f"  idle {variant.name}: {len(alive)} of {args.idle} connections held ("
              + "; ".join(f"{n} {why}" for why, n in failures.most_common()) + ")", flush=True)
    s = {"requests": len(alive), "seconds": seconds, "req_per_s": len(held) / seconds,
         "p50_us": float("nan"), "p99_us": float("nan"), "errors": args.idle - len(alive), "disturbed": 0,
         "peak_rss_kib": status["VmHWM"], "steady_rss_kib": status["VmRSS"], "vsz_kib": status["VmSize"],
         "rss_per_connection_b": (status["VmRSS"] - baseline["VmRSS"]) * 1024 / max(1, len(alive)),
         "live_per_connection_b": (after["live_bytes"] - before["live_bytes"]) / max(1, len(alive)),
         **counted(before, after, max(1, len(alive)), seconds), **allocator_numbers(after, status["VmRSS"])}
    return dict(s, verified=verified, verified_ok=int(ok))


def giveback_turn(args, variant, port):
    """A fresh server warmed by the echo workload (wrk, args.connections, args.warmup s), then the
    give-back measurement (giveback.measure: pre-spike RSS, the spike, the window after it)."""
    server, _, ok, verified = launch(args, variant, "giveback", 0, port)
    wrk_args = copy.copy(args)
    wrk_args.lua = WORKLOADS["echo"][1]
    run_wrk(wrk_args, server, port, 1, args.warmup, "/echo")
    try:
        r = giveback.measure(server, port, args.spike, args.client_cpu, args.baseline_seconds, args.watch_seconds)
    except RuntimeError as e:
        die(f"give-back {variant.name}: {e}")
    stop(server)
    return dict(r, verified=verified, verified_ok=int(ok))


def raise_nofile(needed):
    """RLIMIT_NOFILE to its hard limit (the servers inherit it, and raise their own anyway); dies
    when even that is below `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return idle.raise_nofile(needed)
    if hard < needed:
        die(f"RLIMIT_NOFILE's hard limit is {hard}, below the {needed} descriptors this run needs: raise it "
            f"(`ulimit -Hn {needed}` as root) or lower ALLOC_SPIKE / ALLOC_IDLE")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------- report

def medians(samples):
    ss = kept(samples)
    keys = [k for k, v in ss[0].items() if isinstance(v, (int, float)) and k not in ("rep", "disturbed")]
    m = {k: statistics.median(s[k] for s in ss) for k in keys}
    m["rps_min"], m["rps_max"] = min(s["req_per_s"] for s in ss), max(s["req_per_s"] for s in ss)
    m["turns"], m["disturbed_turns"] = len(ss), sum(s["disturbed"] for s in ss)
    m["verified"] = "; ".join(sorted({s["verified"] for s in samples}))
    m["verified_ok"] = min(s["verified_ok"] for s in samples)
    m["in_use_source"] = samples[0].get("in_use_source", "")
    return m


def kib(value):
    if value != value:
        return "—"
    return f"{value / 1024:,.1f} MiB" if value >= 10 * 1024 else f"{value:,.0f} KiB"


def ratio(value):
    return "—" if value != value else f"{value:.2f}"


def allocator_label(name, m):
    return f"{name}" + ("" if m["verified_ok"] else " **(not verified)**")


def tables(results, args):
    """The Markdown tables of alloc.md (also printed)."""
    out = []
    for workload in ("plaintext", "json", "echo"):
        base = results[("mimalloc", workload)]["req_per_s"]
        out.append(f"\n**{workload}** (`{'POST' if workload == 'echo' else 'GET'} {WORKLOADS[workload][0]}`"
                   + (", 64 KiB body" if workload == "echo" else "") + ")\n")
        out.append("| allocator | req/s (median) | min–max | vs mimalloc | p50 | p99 | peak RSS | steady RSS | VSZ "
                   "| allocations/s | allocations/request | in use | RSS / in use | held / in use | turns |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in ALLOCATORS:
            m = results[(name, workload)]
            out.append(f"| {allocator_label(name, m)} | {m['req_per_s']:,.0f} | {m['rps_min']:,.0f}–{m['rps_max']:,.0f} "
                       f"| {m['req_per_s'] / base:.2f}× | {fmt_us(m['p50_us'])} | {fmt_us(m['p99_us'])} "
                       f"| {kib(m['peak_rss_kib'])} | {kib(m['steady_rss_kib'])} | {kib(m['vsz_kib'])} "
                       f"| {m['allocs_per_s']:,.0f} | {m['allocs_per_unit']:.1f} | {kib(m['in_use_kib'])} "
                       f"| {ratio(m['rss_per_in_use'])} | {ratio(m['held_per_in_use'])} "
                       f"| {m['turns']} ({m['disturbed_turns']}) |")
        out.append(f"\njemalloc's own counter (stats small + large nrequests) over the same load: "
                   f"{results[('jemalloc', workload)]['own_allocs_per_unit']:.1f} per request. It sees an allocation "
                   f"its thread cache served only when that cache flushes, so it undercounts small ones; the "
                   f"allocations/request column counts every call (allocstats.so).")
    out.append(f"\n**idle** ({args.idle:,} keep-alive connections, one `GET /plaintext` each, then held)\n")
    out.append("| allocator | connections held | connections/s (open + 1 request) | peak RSS | RSS held | VSZ "
               "| RSS per connection | live bytes per connection | allocations per connection | in use | RSS / in use "
               "| held / in use |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ALLOCATORS + (POOLS_OFF,):
        m = results[(name, "idle")]
        out.append(f"| {allocator_label(name, m)} | {m['requests']:,.0f} | {m['req_per_s']:,.0f} "
                   f"| {kib(m['peak_rss_kib'])} | {kib(m['steady_rss_kib'])} | {kib(m['vsz_kib'])} "
                   f"| {m['rss_per_connection_b']:,.0f} B | {m['live_per_connection_b']:,.0f} B "
                   f"| {m['allocs_per_unit']:.1f} | {kib(m['in_use_kib'])} | {ratio(m['rss_per_in_use'])} "
                   f"| {ratio(m['held_per_in_use'])} |")
    out.append("\n**pools and arenas on/off** (mimalloc; off = `SPINDLE_POOLS=off`)\n")
    out.append("| workload | req/s on | req/s off | off / on | p99 on | p99 off | allocations/request on | off "
               "| peak RSS on | off | steady RSS on | off |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workload in WORKLOADS:
        on, off = results[("mimalloc", workload)], results[(POOLS_OFF, workload)]
        unit = "connection" if workload == "idle" else "request"
        out.append(f"| {workload} | {on['req_per_s']:,.0f} | {off['req_per_s']:,.0f} | {off['req_per_s'] / on['req_per_s']:.2f}× "
                   f"| {fmt_us(on['p99_us'])} | {fmt_us(off['p99_us'])} | {on['allocs_per_unit']:.1f} "
                   f"| {off['allocs_per_unit']:.1f} (per {unit}) | {kib(on['peak_rss_kib'])} | {kib(off['peak_rss_kib'])} "
                   f"| {kib(on['steady_rss_kib'])} | {kib(off['steady_rss_kib'])} |")
    shim, bare = results[("mimalloc", "plaintext")], results[(NO_SHIM, "plaintext")]
    out.append(f"\nCounting shim's cost (plaintext, mimalloc): {bare['req_per_s']:,.0f} req/s without allocstats.so "
               f"({bare['turns']} turns, {bare['disturbed_turns']} disturbed), {shim['req_per_s']:,.0f} with it "
               f"({shim['turns']} turns, {shim['disturbed_turns']} disturbed): {shim['req_per_s'] / bare['req_per_s']:.2f}×. "
               f"Every variant above runs with it.")
    return out


def plots(results, directory, name):
    """DIRECTORY/NAME-rps.png and NAME-rss.png; returns the paths (none without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench-alloc: matplotlib is missing (pip install matplotlib): no plots", file=sys.stderr)
        return []
    names = list(ALLOCATORS) + [POOLS_OFF]
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]
    paths = []
    fig, axes = plt.subplots(1, len(WORKLOADS), figsize=(16, 4.5))
    for ax, workload in zip(axes, WORKLOADS):
        ms = [results[(n, workload)] for n in names]
        values = [m["req_per_s"] for m in ms]
        errors = [[v - m["rps_min"] for v, m in zip(values, ms)], [m["rps_max"] - v for v, m in zip(values, ms)]]
        ax.bar(range(len(names)), values, yerr=errors, color=colors, capsize=3)
        ax.set_xticks(range(len(names)), [n.replace(", ", "\n") for n in names], fontsize=8)
        ax.set_title(workload + (" (connections/s)" if workload == "idle" else " (req/s)"))
    fig.suptitle("Spindle Hello, one worker: throughput per allocator (median, min–max)")
    fig.tight_layout()
    paths.append(os.path.join(directory, f"{name}-rps.png"))
    fig.savefig(paths[-1], dpi=100)
    fig, axes = plt.subplots(1, len(WORKLOADS), figsize=(16, 4.5))
    width = 0.4
    for ax, workload in zip(axes, WORKLOADS):
        ms = [results[(n, workload)] for n in names]
        x = range(len(names))
        ax.bar([i - width / 2 for i in x], [m["peak_rss_kib"] / 1024 for m in ms], width, label="peak (VmHWM)", color="#4c72b0")
        ax.bar([i + width / 2 for i in x], [m["steady_rss_kib"] / 1024 for m in ms], width,
               label="held" if workload == "idle" else "after the load", color="#55a868")
        ax.set_xticks(list(x), [n.replace(", ", "\n") for n in names], fontsize=8)
        ax.set_title(f"{workload}: RSS (MiB)")
        ax.legend(fontsize=8, loc="lower center")
    fig.suptitle("Spindle Hello, one worker: resident memory per allocator (median)")
    fig.tight_layout()
    paths.append(os.path.join(directory, f"{name}-rss.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close("all")
    return paths


def package_versions():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", *PACKAGES], capture_output=True, text=True)
    return r.stdout.strip().replace("\n", ", ") or "unknown"


# ---------------------------------------------------------------- A/B of settings

def ab_run(args):
    """--ab: interleaved wrk turns of an allocator untuned and under the named settings (see the
    module's doc). Returns the exit status."""
    entries = {label: (allocator, env) for allocator, label, env in tuning.TUNING}
    labels = [label.strip() for label in args.ab.split(";") if label.strip()]
    unknown = [label for label in labels if label not in entries]
    if unknown:
        die(f"--ab: no such setting in bench/alloc/tuning.py: {unknown}")
    allocators = {entries[label][0] for label in labels}
    if len(allocators) != 1:
        die("--ab: settings of one allocator at a time")
    install_cleanup()
    started = time.monotonic()
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    print_header(args, root, "allocator settings A/B, req/s (Spindle Hello, one worker on one core)",
                 [tool_version([args.wrk, "--version"]), package_versions()])
    base = next(v for v in variants(args) if v.name == allocators.pop())
    vs = [base] + [Variant(label, base.allocator, base.binary, base.preload, env=entries[label][1]) for label in labels]
    workloads = ("plaintext", "echo")
    plan = [(rep, w, v) for rep in range(args.reps) for w in workloads for v in vs[rep % len(vs):] + vs[:rep % len(vs)]]
    budget, samples, failures = RetryBudget(), {}, []
    for i, (rep, workload, variant) in enumerate(plan):
        s = wrk_turn(args, budget, variant, workload, rep, args.port + 1)
        samples.setdefault((variant.name, workload), []).append(s)
        if not s["verified_ok"]:
            failures.append(f"allocator not verified: {variant.name} {workload} turn {rep + 1}: {s['verified']}")
        print(f"[{i + 1:>2}/{len(plan)} {time.monotonic() - started:4.0f} s] {workload:<9} {variant.name:<40} "
              f"{s['req_per_s']:>9,.0f} req/s, p99 {fmt_us(s['p99_us']):>8}, peak RSS {kib(s['peak_rss_kib'])}"
              + (f", {s['errors']} ERRORS" if s["errors"] else "") + f"\n{'':>16}allocator: {s['verified']}", flush=True)
    results = {key: medians(ss) for key, ss in samples.items()}
    md = [f"\n**A/B of settings** ({args.reps} turns of {args.seconds} s per variant and workload, rotating; "
          f"wrk -t1 -c{args.connections} on CPU {args.client_cpu}, server on CPU {args.server_cpu})\n",
          "| workload | variant | req/s (median) | min–max | vs untuned | req per server-CPU-s | vs untuned | p99 "
          "| peak RSS | turns (disturbed) |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for workload in workloads:
        untuned, untuned_cpu = (results[(base.name, workload)][k] for k in ("req_per_s", "req_per_cpu_s"))
        for v in vs:
            m = results[(v.name, workload)]
            md.append(f"| {workload} | {v.name} | {m['req_per_s']:,.0f} | {m['rps_min']:,.0f}–{m['rps_max']:,.0f} "
                      f"| {m['req_per_s'] / untuned:.2f}× | {m['req_per_cpu_s']:,.0f} | {m['req_per_cpu_s'] / untuned_cpu:.2f}× "
                      f"| {fmt_us(m['p99_us'])} | {kib(m['peak_rss_kib'])} "
                      f"| {m['turns']} ({m['disturbed_turns']}) |")
    print("\n".join(md))
    path = os.path.join(args.out, f"{args.name}-ab.md")
    with open(path, "w") as f:
        f.write(f"# Allocator settings A/B ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
                f"`bench/alloc/run.py --ab '{args.ab}'`. {package_versions()}.\n" + "\n".join(md) + "\n")
    for failure in failures:
        print(f"FAIL  {failure}")
    print_footer(args, budget, [ss for ss in samples.values()], started, f"written: {path}")
    return 1 if failures else 0


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mimalloc", required=True, help="Hello built with the default traits (mimalloc)")
    parser.add_argument("--glibc", required=True, help="Hello built with --disable-default-traits (glibc malloc)")
    parser.add_argument("--shim", required=True, help="allocstats.so (bench/alloc/allocstats.c)")
    parser.add_argument("--jemalloc", default="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    parser.add_argument("--tcmalloc", default="/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")
    parser.add_argument("--workdir", required=True, help="where the allocator reports and server logs go")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "out"), help="directory of the results")
    parser.add_argument("--name", default="alloc", help="results are OUT/NAME.csv, NAME.md, NAME-rps.png, NAME-rss.png "
                        "and NAME-giveback.csv, .md, .png")
    parser.add_argument("--port", type=int, default=7600, help="base port; uses PORT+1..PORT+6")
    parser.add_argument("--idle", type=int, default=10000, help="idle keep-alive connections")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds between the load and the steady reading")
    parser.add_argument("--spike", type=int, default=10000,
                        help="connections of the give-back phase's spike (0: no give-back phase)")
    parser.add_argument("--baseline-seconds", type=float, default=5, help="RSS sampled before the spike (s)")
    parser.add_argument("--watch-seconds", type=float, default=40, help="RSS sampled after the spike (s)")
    parser.add_argument("--giveback-only", action="store_true", help="only the give-back phase")
    parser.add_argument("--tune", default="", metavar="ALLOCATORS",
                        help="the give-back phase alone for these allocators (comma-separated, or all): the untuned "
                        "turn, then one per setting of bench/alloc/tuning.py")
    parser.add_argument("--ab", default="", metavar="LABELS",
                        help="req/s A/B: the untuned allocator against these settings of bench/alloc/tuning.py "
                        "(labels separated by ';'), plaintext and echo")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="added to every server's environment (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="1 turn of 1 s per variant and workload, 1,000 idle connections, a spike of 1,000")
    add_wrk_arguments(parser, reps=3, seconds=3, retry_budget=30, wait_quiet=10)
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup, args.idle, args.wait_quiet = 1, 1, 1, 1000, 5
        args.spike = min(args.spike, 1000)
    try:
        tuned = tuning.selected(args.tune) if args.tune else []
    except ValueError as e:
        die(str(e))
    if any("=" not in kv for kv in args.env):
        die("--env takes KEY=VALUE")
    args.env = dict(kv.split("=", 1) for kv in args.env)
    if tuned:
        args.giveback_only = True
    if args.giveback_only and args.spike <= 0:
        die("--giveback-only with --spike 0 measures nothing")
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    for path in (args.mimalloc, args.glibc, args.shim, args.jemalloc, args.tcmalloc):
        if not os.path.exists(path):
            die(f"{path} is missing (make -C bench alloc builds and installs what it needs)")
    if args.ab:
        sys.exit(ab_run(args))
    raise_nofile(max(0 if args.giveback_only else args.idle, args.spike) + 1024)
    install_cleanup()

    started = time.monotonic()
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    title = ("memory given back after a spike, per allocator" if args.giveback_only else
             "allocator matrix and pools on/off" + (" and memory given back after a spike" if args.spike > 0 else ""))
    print_header(args, root, f"{title} (Spindle Hello, one worker on one core)",
                 [tool_version([args.wrk, "--version"]), package_versions()])
    vs = variants(args)
    ports = {v.name: args.port + 1 + i for i, v in enumerate(vs)}
    wrk_workloads = [w for w in WORKLOADS if WORKLOADS[w][1]]
    # Variants rotate by one place every repetition, so no variant always runs first or last.
    plan = [] if args.giveback_only else [
        (rep, w, v) for rep in range(args.reps) for w in wrk_workloads
        for v in vs[rep % len(vs):] + vs[:rep % len(vs)] if w in v.workloads]
    idle_plan = [] if args.giveback_only else [v for v in vs if "idle" in v.workloads]
    giveback_plan = [v for v in vs if v.name in ALLOCATORS] if args.spike > 0 else []
    if tuned:
        # Each allocator's untuned turn, then its settings, on the untuned variant's binary and port.
        base = {v.name: v for v in giveback_plan}
        giveback_plan = []
        for allocator in dict.fromkeys(a for a, _, _ in tuned):
            giveback_plan.append(base[allocator])
            for _, label, env in (t for t in tuned if t[0] == allocator):
                giveback_plan.append(Variant(label, allocator, base[allocator].binary, base[allocator].preload, env=env))
                ports[label] = ports[allocator]
    total = len(plan) + len(idle_plan) + len(giveback_plan)
    if plan:
        print(f"samples    {args.reps} turn(s) of {args.seconds} s per variant and workload (after a {args.warmup} s "
              f"warm-up each, a fresh server per turn, variants rotating), one idle turn of {args.idle:,} connections "
              f"per variant", end="")
    if giveback_plan:
        print(f"{'' if plan else 'samples    '}{', then ' if plan else ''}one give-back turn per allocator (a {args.warmup} s "
              f"echo warm-up, {args.baseline_seconds:g} s before, a spike of {args.spike:,} connections × 64 KiB, "
              f"{args.watch_seconds:g} s after)", end="")
    print(f": {total} turns\n")

    samples = {}
    rows = []
    budget = RetryBudget()
    failures = []
    done = 0

    def record(variant, workload, rep, s):
        nonlocal done
        done += 1
        samples.setdefault((variant.name, workload), []).append(s)
        rows.append({"kind": "sample", "variant": variant.name, "allocator": variant.allocator,
                     "workload": workload, "rep": rep + 1, **s})
        if not s["verified_ok"]:
            failures.append(f"allocator not verified: {variant.name} {workload} turn {rep + 1}: {s['verified']}")
        allocs = (f", {s['allocs_per_unit']:.1f} allocations/{'connection' if workload == 'idle' else 'request'}"
                  if "allocs_per_unit" in s else "")
        print(f"[{done:>2}/{total} {time.monotonic() - started:4.0f} s] {workload:<9} {variant.name:<19} "
              f"{s['req_per_s']:>9,.0f} {'conn' if workload == 'idle' else 'req'}/s, p50 {fmt_us(s['p50_us']):>8}, "
              f"p99 {fmt_us(s['p99_us']):>8}, peak RSS {kib(s['peak_rss_kib'])}, steady {kib(s['steady_rss_kib'])}"
              f"{allocs}" + (f", {s['errors']} ERRORS" if s["errors"] else "")
              + f"\n{'':>16}allocator: {s['verified']}", flush=True)

    for rep, workload, variant in plan:
        record(variant, workload, rep, wrk_turn(args, budget, variant, workload, rep, ports[variant.name]))
    for variant in idle_plan:
        record(variant, "idle", 0, idle_turn(args, variant, 0, ports[variant.name]))

    giveback_turns = []
    for variant in giveback_plan:
        r = giveback_turn(args, variant, ports[variant.name])
        giveback_turns.append((variant.name, r))
        done += 1
        back, at_goal, verdict = giveback.recovery(r["samples"], r["baseline_kib"])
        print(f"[{done:>2}/{total} {time.monotonic() - started:4.0f} s] give-back {variant.name:<19} "
              f"{r['answered']:,} of {args.spike:,} answered in {r['spike_s']:.1f} s (all open after {r['open_s']:.1f} s), "
              f"pre-spike RSS {kib(r['baseline_kib'])}, peak {kib(r['peak_kib'])}, "
              f"at {giveback.GOAL_SECONDS} s {kib(at_goal) if at_goal is not None else '—'}, back within 10 % "
              + (f"after {max(0.0, back):.2f} s" if back is not None else f"not within {args.watch_seconds:g} s")
              + f": {verdict}\n{'':>16}allocator: {r['verified']}", flush=True)
        if r["answered"] < args.spike:
            failures.append(f"give-back {variant.name}: {args.spike - r['answered']:,} of {args.spike:,} spike "
                            f"connections failed (" + "; ".join(f"{n} {why}" for why, n in r["failures"].most_common()) + ")")
        if not r["verified_ok"]:
            failures.append(f"allocator not verified: {variant.name} give-back: {r['verified']}")

    written, giveback_md = [], []
    if giveback_turns:
        header = (f"`bench/alloc/run.py{' --quick' if args.quick else ''}{' --giveback-only' if args.giveback_only else ''}"
                  f"{' --tune ' + args.tune if args.tune else ''}"
                  + "".join(f" --env {k}={v}" for k, v in args.env.items()) + "`: "
                  f"Spindle Hello, `--workers 1` on CPU {args.server_cpu}, the spike from CPU {args.client_cpu}; a fresh "
                  f"server per allocator, warmed by {args.warmup} s of the echo workload (wrk -t1 -c{args.connections}), "
                  f"{args.baseline_seconds:g} s sampled before the spike and {args.watch_seconds:g} s after it. "
                  f"{package_versions()}.")
        giveback_md, written = giveback.write(args.out, args.name, giveback_turns, args.spike, header)

    if plan:
        results = {key: medians(ss) for key, ss in samples.items()}
        for (name, workload), m in results.items():
            rows.append({"kind": "median", "variant": name, "workload": workload, **m})
        md = tables(results, args)
        print("\n".join(md))
        paths = plots(results, args.out, args.name)

        fields = ["kind", "variant", "allocator", "workload", "rep", "verified_ok", "verified", "req_per_s", "rps_min",
                  "rps_max", "p50_us", "p90_us", "p99_us", "max_us", "requests", "seconds", "errors", "server_cpu_pct",
                  "req_per_cpu_s", "peak_rss_kib", "steady_rss_kib", "vsz_kib", "allocations", "allocs_per_s",
                  "allocs_per_unit", "frees_per_unit", "own_allocs_per_unit", "live_kib", "in_use_kib", "in_use_source",
                  "held_kib", "rss_per_in_use", "held_per_in_use", "rss_per_connection_b", "live_per_connection_b",
                  "other_on_server_cpu_pct", "other_on_client_cpu_pct", "disturbed", "turns", "disturbed_turns"]
        csv_path = os.path.join(args.out, f"{args.name}.csv")
        write_csv(csv_path, fields, rows)
        md_path = os.path.join(args.out, f"{args.name}.md")
        with open(md_path, "w") as f:
            f.write(f"# Allocators ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
                    f"`bench/alloc/run.py{' --quick' if args.quick else ''}`: Spindle Hello, `--workers 1` on CPU "
                    f"{args.server_cpu}, wrk -t1 -c{args.connections} on CPU {args.client_cpu}; {args.reps} turn(s) of "
                    f"{args.seconds} s per cell, medians. {package_versions()}. Allocation counts: allocstats.so "
                    f"(interposed malloc/free); in use: the allocator's own statistics (mimalloc: the shim's live "
                    f"bytes); RSS / in use = steady RSS ÷ in use; held = the allocator's resident/held bytes.\n")
            f.write("\n".join(md + giveback_md)
                    + "\n\n## Allocator verified per turn\n\n| variant | workload | turn | verified |\n|---|---|---:|---|\n")
            for row in rows:
                if row["kind"] == "sample":
                    f.write(f"| {row['variant']} | {row['workload']} | {row['rep']} | {row['verified']} |\n")
            for name, r in giveback_turns:
                f.write(f"| {name} | give-back | 1 | {r['verified']} |\n")
            for path in paths:
                f.write(f"\n![{os.path.basename(path)}]({os.path.basename(path)})\n")
        written = [csv_path, md_path] + paths + written
    if giveback_md:
        print("\n".join(giveback_md))

    for failure in failures:
        print(f"FAIL  {failure}")
    if not failures:
        print(f"\nPASS  every turn ran with the allocator it names ({done} turns verified)"
              + (", every spike connection answered" if giveback_turns else ""))
    print_footer(args, budget, [ss for key, ss in samples.items() if key[1] != "idle"], started,
                 "written: " + ", ".join(written))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
