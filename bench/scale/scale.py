#!/usr/bin/env python3
"""The fiber-count scalability benchmark behind `make bench-scale` / `make -C bench scale`.

Part 1, fibers (each measurement a fresh process pinned to --fiber-cpu; Spindle, Go with
GOMAXPROCS=1, Python gevent; sizes 1k, 10k, 100k, 1M):

  parked       N fibers / goroutines / greenlets each run and park on one event or channel:
               create time per fiber (spawn + run to the park), VmRSS and VmPTE growth per fiber
               (`fiber-bench parked N`, `scalepeer parked N`, `gevent_scale_peer.py parked N`)
  round-robin  N of them yield in turn (Fiber.yield, runtime.Gosched, gevent.sleep(0)); ns per
               switch over the timed rounds after a warm-up round (`… round-robin N ROUNDS`)

Floors (the fiber suite's C loops, no fiber code; fresh processes of `fiber-bench`, pinned like the
fiber runs, one of each after every parked run of Spindle and at least --reps of each per size):

  touch        `fiber-bench touch N`: N slots mapped at the pool's slot stride, one byte written
               in the top page of each (the page faults a parked fiber cannot avoid)
  touch-guarded
               `fiber-bench touch-guarded N`: the same plus the guards the stack pool installs
               (one batched MADV_GUARD_INSTALL per window of 1,024 slots): the kernel's work for
               one guarded stack per fiber; run when Spindle's pool guards that way

Sizes below 10k run 3 × --reps times (a run takes a few milliseconds: its noise is the size of
a goal's margin), sizes below 100k --reps times (medians), larger ones once. A size is skipped, with the
reason printed, when the previous size of the same runtime and mode predicts more than
--run-limit seconds (everything but the timed switches scaled linearly with the count) or more
than 60 % of MemAvailable; a run that still exceeds 3 × --run-limit is killed and reported as
capped.

Part 2, HTTP (Spindle's Examples/Hello with --workers 1, Go net/http, gevent.pywsgi; one process
pinned to --server-cpu, a fresh one per level): hold-client (pinned to --client-cpu) opens C
keep-alive connections and keeps C requests `GET /sleep?ms=MS` in flight, ROUNDS per
connection: req/s, p50/p99/max latency, server RSS per idle connection and per in-flight
request, server CPU per request. Levels 1k, 10k, 50k; a level above what RLIMIT_NOFILE lets
one server process hold (hard limit minus 2048) is run at that limit instead, and says so.
PASS when every request got its 200, FAIL otherwise.

Goals (issue #19), from part 1 of this run, printed as PASS/FAIL: at each of 1k, 10k, 100k and
1M, Spindle creates parked fibers at least as fast as Go creates parked goroutines: Go's median
create time per goroutine ÷ Spindle's per fiber ≥ 1.0 (the "Go ÷ Spindle" column of the create
table). FAIL with the reason when Spindle's size was capped; n/a when Go's was, or when the size
is not in --sizes (scale-quick stops at 100k). Under each goal line a floor line (not a goal, result
"floor"): the guarded floor of that size per fiber, Go ÷ guarded floor (below 1: Go creates a
parked goroutine faster than the kernel maps, guards and faults in one stack) and Spindle ÷
guarded floor (what the fiber code adds over that work).

Output: the tables (also --md), one CSV line per run (--csv), PNG plots (--plots, matplotlib).
Exit status 0 when every measurement ran or was capped with a reason, 1 when something broke.
See Docs/benchmarks/scale.md.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import benchutil  # noqa: E402
from benchutil import cpu_ticks, die, die_with_parent, start_server  # noqa: E402

import report  # noqa: E402  (bench/scale/report.py: tables and plots)

benchutil.PROGRAM = "bench-scale"
benchutil.PORT_HINT = "pick other ports with SCALE_PORT=... (make -C bench scale SCALE_PORT=7750)"

RUNTIMES = ("Spindle", "Go", "gevent")
GEVENT_PEER = os.path.join(HERE, "gevent_scale_peer.py")
# Timed switches per round-robin run (rounds = max(3, target // N)); gevent's switches cost
# ~50× more, so it gets fewer to stay inside the time budget.
SWITCH_TARGET = {"Spindle": 2_000_000, "Go": 2_000_000, "gevent": 200_000}
SINGLE_RUN_FROM = 100_000  # sizes from here on run once
SHORT_RUN_BELOW = 10_000  # a run of a size below this takes milliseconds: three times --reps of them
# Issue #19: parked fibers created at least as fast as Go's parked goroutines (Go ÷ Spindle ≥ 1)
# at each of these sizes.
CREATE_GOAL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
CREATE_GOAL_RATIO = 1.0
# The floors' rows: runtime FLOOR, mode one of fiber-bench's C loops (see the docstring).
FLOOR = "floor"
FLOOR_MODES = ("touch", "touch-guarded")
FD_MARGIN = 2048  # descriptors a server keeps for itself (ring, listener, logs, Python modules; Spindle reserves 1,024 of its limit)

STARTED = time.monotonic()


def progress(text):
    print(f"[{time.monotonic() - STARTED:5.0f} s] {text}", flush=True)


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- part 1: fibers

def fiber_command(args, runtime, mode, n, rounds):
    tail = [mode, str(n)] + ([str(rounds)] if mode == "round-robin" else [])
    program = {"Spindle": [args.fiber_bench], "Go": [args.go_peer], "gevent": [sys.executable, GEVENT_PEER],
               FLOOR: [args.fiber_bench]}
    return ["taskset", "-c", str(args.fiber_cpu)] + program[runtime] + tail


def parse_fiber_line(mode, line):
    """The numbers of a `parked …`, `round-robin …`, `touch …` or `touch-guarded …` line as a dict,
    or None (also for a floor's negative time: its mapping or guards were refused)."""
    f = line.split()
    try:
        if mode in FLOOR_MODES and f[0] == mode and len(f) == 3:
            n, ns = int(f[1]), int(f[2])
            return {"size": n, "create_ns_per_fiber": ns / n} if ns >= 0 else None
        if mode == "parked" and f[0] == "parked" and len(f) >= 5:
            n, ns, rss, pte = (int(x) for x in f[1:5])
            return {"size": n, "create_ns_per_fiber": ns / n, "rss_per_fiber": rss / n, "pte_per_fiber": pte / n,
                    "guard": f[6] if len(f) >= 7 else ""}
        if mode == "round-robin" and f[0] == "round-robin" and len(f) == 7:
            n, rounds, switches, ns, rss, pte = (int(x) for x in f[1:7])
            return {"size": n, "rounds": rounds, "switches": switches, "switch_ns": ns / max(1, switches),
                    "rss_per_fiber": rss / n, "pte_per_fiber": pte / n}
    except (ValueError, IndexError):
        pass
    return None


def run_fiber(args, runtime, mode, n, rep):
    """One fresh process; returns a row (with 'cap' set when it did not finish in time)."""
    rounds = max(3, SWITCH_TARGET.get(runtime, 0) // n)
    command = fiber_command(args, runtime, mode, n, rounds)
    row = {"kind": "floor-run" if runtime == FLOOR else "fiber-run", "runtime": runtime, "mode": mode, "size": n,
           "rep": rep}
    t0 = time.monotonic()
    try:
        r = subprocess.run(command, capture_output=True, text=True, timeout=3 * args.run_limit,
                           preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        row["cap"] = f"killed after {3 * args.run_limit:g} s (3 × the {args.run_limit:g} s run limit)"
        return row
    row["wall_s"] = time.monotonic() - t0
    values = parse_fiber_line(mode, r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else None
    if values is None and runtime == FLOOR:  # not judged: recorded as not measured, the run goes on
        row["cap"] = (f"no time from `{' '.join(command)}` (status {r.returncode}; a negative time: its mapping or "
                      f"guards were refused): {(r.stderr.strip() or r.stdout.strip())[-200:]}")
        return row
    if values is None:
        die(f"`{' '.join(command)}` failed (status {r.returncode}): {r.stderr.strip()[-2000:]} {r.stdout.strip()[-500:]}")
    row.update(values)
    return row


def describe_fiber(row):
    if row["mode"] in FLOOR_MODES:
        return f"{row['create_ns_per_fiber']:,.0f} ns per slot"
    if row["mode"] == "parked":
        return (f"{row['create_ns_per_fiber']:,.0f} ns/fiber to create, {row['rss_per_fiber'] / 1024:.2f} KiB RSS "
                f"+ {row['pte_per_fiber'] / 1024:.2f} KiB page tables per fiber")
    return f"{row['switch_ns']:,.1f} ns/switch ({row['switches']:,} switches, {row['rounds']} rounds)"


def predicted_seconds(row, n):
    """Wall time a run of `n` is expected to take, from `row` (the last run of the same runtime
    and mode): everything but the timed switches scales with the fiber count; the switches of a
    round-robin run are max(3, target // n) rounds at the last run's ns per switch."""
    if row["mode"] == "parked":
        return row["wall_s"] * n / row["size"]
    switching = row["switches"] * row["switch_ns"] / 1e9
    rounds = max(3, SWITCH_TARGET[row["runtime"]] // n)
    return (row["wall_s"] - switching) * n / row["size"] + rounds * n * row["switch_ns"] / 1e9


def cap_reason(args, last, n):
    """Why a run of `n` should be skipped, judged from the last run of its kind, or None."""
    seconds = predicted_seconds(last, n)
    if seconds > args.run_limit:
        return (f"{n:,} skipped: {last['size']:,} took {last['wall_s']:.1f} s, so {n:,} would take ~{seconds:.0f} s "
                f"(> {args.run_limit:g} s per run)")
    memory = last["rss_per_fiber"] * n
    if memory > 0.6 * mem_available():
        return f"{n:,} skipped: ~{memory / 2**30:.1f} GiB predicted from {last['size']:,} (> 60 % of MemAvailable)"
    return None


def floor_runs(args, rows, n, rep, reps, guarded):
    """One fresh process of each floor of `n` slots (`touch-guarded` only when `guarded`: Spindle's
    pool guards with MADV_GUARD_INSTALL), after the parked runs of turn `rep` of `reps`."""
    for mode in FLOOR_MODES if guarded else FLOOR_MODES[:1]:
        row = run_fiber(args, FLOOR, mode, n, rep)
        rows.append(row)
        if "cap" in row:
            rows.append({"kind": "floor-cap", "runtime": FLOOR, "mode": mode, "size": n, "note": f"{n:,}: {row['cap']}"})
            progress(f"{FLOOR:<7} {mode:<13} {n:,}: {row['cap']}")
            continue
        progress(f"{FLOOR:<7} {mode:<13} {n:>7,} (run {rep}/{reps}, {row['wall_s']:.1f} s): " + describe_fiber(row))


def fiber_part(args, rows):
    caps = {}  # (runtime, mode) -> reason; larger sizes are skipped too
    last = {}  # (runtime, mode) -> the last finished run
    for n in args.sizes:
        reps = args.reps * 3 if n < SHORT_RUN_BELOW else (args.reps if n < SINGLE_RUN_FROM else 1)
        for mode in ("parked", "round-robin"):
            # The floors follow the parked runs, one of each after every turn, at least --reps per
            # size; not where Spindle's parked runs were capped (a floor costs about what they do).
            floor_reps = max(reps, args.reps) if mode == "parked" else 0
            for rep in range(1, max(reps, floor_reps) + 1):
                for runtime in RUNTIMES if rep <= reps else ():
                    key = (runtime, mode)
                    if key not in caps and key in last and rep == 1:
                        reason = cap_reason(args, last[key], n)
                        if reason:
                            caps[key] = reason
                            rows.append({"kind": "fiber-cap", "runtime": runtime, "mode": mode, "size": n, "note": reason})
                            progress(f"{runtime:<7} {mode:<11} {reason}")
                    if key in caps:
                        continue
                    row = run_fiber(args, runtime, mode, n, rep)
                    rows.append(row)
                    if "cap" in row:
                        caps[key] = f"{n:,}: {row['cap']}"
                        rows.append({"kind": "fiber-cap", "runtime": runtime, "mode": mode, "size": n, "note": caps[key]})
                        progress(f"{runtime:<7} {mode:<11} {caps[key]}")
                        continue
                    last[key] = row
                    progress(f"{runtime:<7} {mode:<11} {n:>9,} (run {rep}/{reps}, {row['wall_s']:.1f} s): "
                             + describe_fiber(row))
                spindle = last.get(("Spindle", "parked"))
                if rep <= floor_reps and ("Spindle", "parked") not in caps and spindle:
                    floor_runs(args, rows, n, rep, floor_reps, spindle["guard"] == "MADV_GUARD_INSTALL")


def fiber_medians(rows):
    """One median row per runtime, mode and size (kind fiber-median; kind floor-median for the floors)."""
    medians = []
    groups = {}
    for r in rows:
        if r["kind"] in ("fiber-run", "floor-run") and "cap" not in r:
            groups.setdefault((r["kind"], r["runtime"], r["mode"], r["size"]), []).append(r)
    for (kind, runtime, mode, n), runs in groups.items():
        m = {"kind": "floor-median" if kind == "floor-run" else "fiber-median", "runtime": runtime, "mode": mode, "size": n,
             "rep": len(runs)}
        for field in ("create_ns_per_fiber", "rss_per_fiber", "pte_per_fiber", "switch_ns", "wall_s"):
            if field in runs[0]:
                m[field] = statistics.median(r[field] for r in runs)
        for field in ("rounds", "switches", "guard"):
            if field in runs[0]:
                m[field] = runs[0][field]
        medians.append(m)
    return medians


def floor_line(rows, n, sizes, medians):
    """(text, measured, "floor", Go ÷ guarded floor): the line under the create goal of `n`, from
    the floors' medians; not a goal, the kernel's share of that goal's times."""
    text = f"{n:,} parked: the guarded floor (kernel work for one guarded stack per fiber, no fiber code)"
    floors = {r["mode"]: r["create_ns_per_fiber"] for r in rows if r["kind"] == "floor-median" and r["size"] == n}
    guarded = floors.get("touch-guarded")
    if not guarded:
        caps = [r["note"] for r in rows if r["kind"] == "floor-cap" and r["size"] == n and r["mode"] == "touch-guarded"]
        why = ("not in --sizes" if n not in sizes else caps[0] if caps else
               "Spindle's pool does not guard with MADV_GUARD_INSTALL" if "touch" in floors else
               "no floor ran (Spindle's parked runs were capped)")
        return (text, f"not measured: {why}", "floor", float("nan"))
    spindle, go = medians.get(("Spindle", n)), medians.get(("Go", n))

    def over(median, name):
        return f"{name} ÷ guarded floor {median['create_ns_per_fiber'] / guarded:.2f}×" if median else f"{name} not measured"
    touch = f" (first touch alone {floors['touch']:,.0f} ns)" if "touch" in floors else ""
    return (text, f"{guarded:,.0f} ns per fiber{touch}; {over(go, 'Go')}; {over(spindle, 'Spindle')}", "floor",
            go["create_ns_per_fiber"] / guarded if go else float("nan"))


def create_goals(rows, sizes):
    """[(goal, measured, PASS/FAIL/n/a, ratio)]: issue #19's create goal at each CREATE_GOAL_SIZES
    size, from the medians and caps of part 1 (`sizes`: the sizes this run was asked for), each
    followed by its size's floor line (result "floor", `floor_line`)."""
    medians = {(r["runtime"], r["size"]): r for r in rows if r["kind"] == "fiber-median" and r["mode"] == "parked"}
    caps = {(r["runtime"], r["size"]): r["note"] for r in rows if r["kind"] == "fiber-cap" and r["mode"] == "parked"}

    def cap(runtime, n):  # a capped size caps the larger ones too; the note is at the first
        return next((caps[(runtime, m)] for m in sorted(sizes) if m <= n and (runtime, m) in caps), None)

    result = []
    for n in CREATE_GOAL_SIZES:
        goal = (f"{n:,} parked: Spindle creates fibers ≥ {CREATE_GOAL_RATIO:g}× as fast as Go goroutines "
                f"(Go ÷ Spindle create time)")
        spindle, go = medians.get(("Spindle", n)), medians.get(("Go", n))
        if spindle and go:
            ratio = go["create_ns_per_fiber"] / spindle["create_ns_per_fiber"]
            result.append((goal, f"{ratio:.2f}× ({go['create_ns_per_fiber']:,.0f} vs "
                                 f"{spindle['create_ns_per_fiber']:,.0f} ns)",
                           "PASS" if ratio >= CREATE_GOAL_RATIO else "FAIL", ratio))
        elif n not in sizes:
            result.append((goal, "not measured: not in --sizes", "n/a", float("nan")))
        elif not spindle:
            result.append((goal, f"Spindle not measured: {cap('Spindle', n) or 'no run finished'}", "FAIL",
                           float("nan")))
        else:
            result.append((goal, f"Go not measured: {cap('Go', n) or 'no run finished'}", "n/a", float("nan")))
        result.append(floor_line(rows, n, sizes, medians))
    return result


# ---------------------------------------------------------------- part 2: HTTP

def server_argv(args, name, port):
    return {
        "Spindle": [args.hello, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "Go": [args.go_peer, "http", str(port)],
        "gevent": [sys.executable, GEVENT_PEER, "http", str(port)],
    }[name]


def parse_pairs(line):
    out = {}
    for pair in line.split():
        key, _, value = pair.partition("=")
        out[key] = float(value) if "." in value else int(value)
    return out


def run_http(args, name, level, requested, port, log):
    server = start_server(name, server_argv(args, name, port), port, args.server_cpu, log)
    benchutil.probe(name, port, "/sleep?ms=0", b"slept 0 ms\n")
    time.sleep(0.3)
    timeout = 20 + 4 * args.rounds * args.ms / 1000
    command = ["taskset", "-c", str(args.client_cpu), args.hold_client, str(port), str(level), str(args.ms),
               str(args.rounds), f"{timeout:g}", str(server.pid)]
    ticks0 = cpu_ticks(server.pid)
    r = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60, preexec_fn=die_with_parent)
    if server.poll() is not None:
        die(f"{name} exited with status {server.returncode} during {' '.join(command)} (log: {log.name})")
    cpu_s = (cpu_ticks(server.pid) - ticks0) / benchutil.CLK_TCK
    server.kill()
    server.wait()
    if r.returncode != 0:
        die(f"`{' '.join(command)}` failed (status {r.returncode}): {r.stderr.strip()}")
    m = parse_pairs(r.stdout.strip().splitlines()[-1])
    held = max(1, m["connected"])
    complete = m["errors"] == 0 and m["unfinished"] == 0 and m["connect_errors"] == 0 and m["connected"] == level
    return {
        "kind": "http-run", "runtime": name, "size": level, "requested": requested, "ms": args.ms,
        "rounds": args.rounds, **m,
        "ideal_req_per_s": m["connected"] / (args.ms / 1000) if args.ms else float("nan"),
        "rss_per_connection": (m["rss_connected"] - m["rss_base"]) / held,
        "rss_per_request": (m["rss_full"] - m["rss_base"]) / held,
        "server_cpu_s": cpu_s,
        "cpu_us_per_request": 1e6 * cpu_s / m["requests"] if m["requests"] else float("nan"),
        "result": "PASS" if complete else "FAIL",
        "note": "" if level == requested else f"{requested:,} requested; RLIMIT_NOFILE allows {level:,}",
    }


def http_part(args, rows):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # servers and the client inherit it
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    most = (hard if hard != resource.RLIM_INFINITY else 1 << 20) - FD_MARGIN
    progress(f"HTTP: RLIMIT_NOFILE {hard} (hard; raising it needs CAP_SYS_RESOURCE): at most {most:,} "
             f"connections per server process")
    os.makedirs(args.workdir, exist_ok=True)
    port = args.port
    for i, requested in enumerate(args.levels):
        level = min(requested, most)
        order = RUNTIMES[i % 3:] + RUNTIMES[:i % 3]
        for name in order:
            port += 1
            with open(os.path.join(args.workdir, f"{name.lower()}-{level}.log"), "w") as log:
                row = run_http(args, name, level, requested, port, log)
            rows.append(row)
            progress(f"{name:<7} HTTP {level:>6,} × {args.ms} ms × {args.rounds}: {row['req_per_s']:,.0f} req/s "
                     f"(ideal {row['ideal_req_per_s']:,.0f}), p99 {row['p99_us'] / 1000:,.0f} ms, "
                     f"{row['rss_per_request'] / 1024:.1f} KiB RSS per in-flight request, "
                     f"{row['requests']:,} answered, {row['errors']} errors, {row['unfinished']} unfinished "
                     f"(connect {row['connect_s']:.1f} s) {row['result']}" + (f" — {row['note']}" if row["note"] else ""))


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fiber-bench", required=True, help="fiber-bench executable (bench/)")
    parser.add_argument("--go-peer", required=True, help="scalepeer executable (bench/go/scalepeer.go)")
    parser.add_argument("--hello", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--hold-client", required=True, help="hold-client executable (bench/scale/hold-client.c)")
    parser.add_argument("--workdir", required=True, help="where the server logs go")
    parser.add_argument("--csv", default=os.path.join(HERE, "..", "out", "scale.csv"))
    parser.add_argument("--md", default=os.path.join(HERE, "..", "out", "scale.md"))
    parser.add_argument("--plots", default=os.path.join(HERE, "..", "out"), help="folder for scale-*.png")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="fiber counts")
    parser.add_argument("--reps", type=int, default=3, help="fresh processes per size below 100k")
    parser.add_argument("--run-limit", type=float, default=40, help="seconds one fiber run may be predicted to take")
    parser.add_argument("--levels", default="1000,10000,50000", help="concurrent requests")
    parser.add_argument("--ms", type=int, default=1000, help="how long each request is held in its handler")
    parser.add_argument("--rounds", type=int, default=3, help="requests per connection")
    parser.add_argument("--fiber-cpu", type=int, default=0)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--port", type=int, default=7700, help="base port; runs use PORT+1, PORT+2, …")
    parser.add_argument("--quick", action="store_true",
                        help="sizes 1k-100k once, levels 1k and 10k, 500 ms × 2 rounds: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.reps, args.run_limit = "1000,10000,100000", 1, 20
        args.levels, args.ms, args.rounds = "1000,10000", 500, 2
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.levels = [int(x) for x in args.levels.split(",")]
    args.workdir = os.path.abspath(args.workdir)
    benchutil.install_cleanup()
    benchutil.check_cpus(args)

    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    header = report.header(root, args)
    for label, text in header:
        print(f"{label:<10} {text}")
    print()
    rows = []
    fiber_part(args, rows)
    rows += fiber_medians(rows)
    goals = create_goals(rows, args.sizes)
    http_part(args, rows)

    markdown = report.markdown(header, rows, args, goals)
    print("\n" + markdown)
    for goal, measured, result, _ in goals:
        print(f"{result}  {goal}: {measured}")
    print()
    rows += [{"kind": "floor" if r == "floor" else "goal", "goal": g, "measured": m, "result": r, "value": v}
             for g, m, r, v in goals]
    os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
    with open(args.md, "w") as f:
        f.write(markdown)
    benchutil.write_csv(args.csv, report.CSV_FIELDS, rows)
    plots = report.plots(rows, args.plots)
    benchutil.kill_children()
    print(f"CSV written to {args.csv}, tables to {args.md}, plots: {', '.join(plots) or 'none (see above)'}; "
          f"wall time {time.monotonic() - STARTED:.0f} s; load {benchutil.load_average()}")


if __name__ == "__main__":
    main()
