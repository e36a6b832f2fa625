#!/usr/bin/env python3
"""The peers benchmark behind `make bench-peers` / `make -C bench peers`: Spindle beside the
servers a user would otherwise pick, one worker each, on the same CPU, under the same load.

Servers (bench/peers/servers.py): Spindle (Examples/Hello, --workers 1), nginx (nginx-light,
one process), h2o (num-threads 1), Go net/http (GOMAXPROCS=1), Hummingbird 2 (one event-loop
thread), gevent (pywsgi, one process). All run at once, each pinned to SERVER_CPU; they idle at
~0 CPU while another is measured.

Workloads, each with wrk -t1 pinned to CLIENT_CPU, 64 keep-alive connections, bench/http/pipeline.lua:
  plaintext       GET /plaintext -> "Hello, World!", pipelining 1
  json            GET /json -> {"message":"Hello, World!"}, pipelining 1
  plaintext x16   GET /plaintext, 16 requests pipelined per write
  json x16        GET /json, 16 pipelined; Spindle, Go and Hummingbird only (the servers its
                  goals name: the other three would add a minute for no verdict)
After a 1 s warm-up per server and workload, the servers take turns (order rotated each
repetition), REPS repetitions of SECONDS each: req/s, latency p50/p90/p99 (pipeline.lua's, right
under pipelining), the server's CPU time (/proc/PID/stat, all threads) and so requests per
server-CPU-second. A turn where other processes took more than --max-other % of either CPU is
run again within a small time budget (bench/lib/benchutil.py). Medians over the repetitions.

Idle memory (bench/peers/idle.py): IDLE keep-alive connections (10,000) that each made one
request, VmRSS growth per connection; a server that cannot hold them all is reported as such.
Then the large test, Spindle only: a fresh Spindle (1 s plaintext warm-up, as the others had
their turns) holds IDLE_LARGE connections (50,000) the same way, from the loopback source
addresses 127.0.0.1-5 (one address has only ~28k ephemeral ports towards one server port),
spread over processes on both sides (idle.hold_idle_spread): RLIMIT_NOFILE is per process, and
its hard limit (20,000 on the VM of Docs/benchmarks/peers.md; raising it needs
CAP_SYS_RESOURCE) is below the connections. So this Spindle runs N worker processes of one
worker thread each under its supervisor (`--processes N`, N = IDLE_LARGE ÷ idle.PER_PROCESS
rounded up: 4 for 50,000, ~12,500 connections each as SO_REUSEPORT spreads them), the
connections come from as many client processes (bench/peers/idle_client.py) opening their shares
one after another, and its RSS is the sum over the supervisor and its worker processes. The
same path runs where the limit would allow one process. Where the limit is too low even for a
share (below idle.PER_PROCESS × 1.25 + LARGE_FD_MARGIN) the test is not run and its goal line
says FAIL with that reason. The 10,000-connection tests stay one process on each side.

Pairs: after the idle tests, every CPU goal is measured again as --pairs (5) back-to-back pairs
of turns (--pair-seconds each, order alternating): Spindle and the goal's peer, both started
fresh and given a --warmup turn before each pair (for the /json ÷ /plaintext goals, one fresh
Spindle and its two workloads). A goal is judged by the median of its pairs' ratios, as
bench-http judges its goals against the C responder and its A/B: the rotation keeps each server
in one process for all its turns, so its ratios carry both processes' placement of memory (up
to 10-16 % between two processes of one binary on these VMs) and the machine's drift between
turns a minute apart; the rotation's ratio is printed beside the pairs'.

Floors: two of issue #19's goals get a line of their own under theirs, result "floor" (not
judged), measured in the same run: what the goal is up against, whatever Spindle does. The
goal's line ends with the floor's figure.
  /json ≥ 2× Go at keep-alive: after every goal's pairs, --pairs more pairs of the same kind, the
      bare C liburing responder (--c-server, bench/http/c-http-server.c; GET /json answered with
      its one canned plaintext response, as every request) and Go's /json; the median of their
      ratios. The responder runs in these pairs only, on port PORT+8.
  /json ≥ 0.9× /plaintext at pipelining 16: in each of that goal's pairs, right after its two
      turns (the pair's servers idle), `coder-reuse floor` (--coder-reuse,
      bench/json/coder-reuse.swift) pinned to SERVER_CPU: ns per encode of the message by an
      Encoder that writes nothing (Codable's own dispatch: the floor of a route that encodes
      through `Encodable`), by StreamingJSONEncoder through `Encodable`, and by
      StreamingJSONEncoder through the message's `JSONWritable` conformance (what
      Examples/Hello's /json does), interleaved. Each pair's figures over the server CPU of a
      plaintext x16 request in that pair's turn (seconds apart, so the machine's speed of the
      moment cancels); the medians of those shares against what the goal lets a /json request
      cost beyond plaintext, encoding included (1/0.9 − 1 = 11.1 %). A floor that could not be
      measured is printed as such.
Without --c-server (--coder-reuse) the first (second) floor is not measured.

Goals, measured in this run, printed as PASS/FAIL (ratios of requests per server-CPU-second):
  Spindle plaintext ≥ 1.0× nginx at pipelining 1, ≥ 1.5× nginx at 16, ≥ 2× Go net/http, ≥ 5×
  Hummingbird; Spindle's idle keep-alive memory ≤ 1 KiB per connection (10,000 held);
and issue #19's:
  Spindle /json ≥ 0.9× Spindle's own /plaintext, at pipelining 1 and at 16;
  Spindle /json ≥ 2× Go net/http's /json at pipelining 1, ≥ 5× Hummingbird's /json at 16;
  Spindle's idle keep-alive memory ≤ 0.5 KiB per connection with 10,000 held and with 50,000.

Output: the progress and tables on stdout; out/peers.csv (every turn, medians, idle, goals,
floors), out/peers.md (Markdown tables), out/peers-*.png (matplotlib plots). Exit status 0 when
every measurement ran (a FAIL is a result), 1 when something broke. See Docs/benchmarks/peers.md.
"""
import argparse
import collections
import contextlib
import math
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchutil import (RetryBudget, add_wrk_arguments, describe_server, die, install_cleanup, kept,  # noqa: E402
                       kill_children, measured_turn, med, median_of, pair_ratios, pairs_verdict, print_footer,
                       print_header, probe, run_pairs, run_wrk, start_server, turn_line)
import benchutil  # noqa: E402
import idle  # noqa: E402
import report  # noqa: E402
from servers import C_RESPONDER, JSON, PLAINTEXT, SERVERS, c_responder_argv, commands, spindle_argv  # noqa: E402

benchutil.PROGRAM = "bench-peers"
benchutil.PORT_HINT = "pick other ports with PEERS_PORT=... (make -C bench peers PEERS_PORT=7550)"

# servers: the ones that run the workload (every server when None).
Workload = collections.namedtuple("Workload", "name path depth servers")
WORKLOADS = (Workload("plaintext", "/plaintext", 1, None), Workload("json", "/json", 1, None),
             Workload("plaintext x16", "/plaintext", 16, None),
             Workload("json x16", "/json", 16, ("Spindle", "Go", "Hummingbird")))
# (label, workload, peer, minimum ratio of Spindle's req per server-CPU-s over the peer's)
CPU_GOALS = (("plaintext keep-alive", "plaintext", "nginx", 1.0),
             ("plaintext pipelining 16", "plaintext x16", "nginx", 1.5),
             ("plaintext keep-alive", "plaintext", "Go", 2.0),
             ("plaintext keep-alive", "plaintext", "Hummingbird", 5.0),
             # issue #19
             ("json keep-alive", "json", "Go", 2.0),
             ("json pipelining 16", "json x16", "Hummingbird", 5.0))
# Issue #19: /json costs Spindle at most a little more than /plaintext, at each depth measured:
# (label, json workload, plaintext workload, minimum ratio of Spindle's req per server-CPU-s).
JSON_GOALS = (("json keep-alive", "json", "plaintext", 0.9),
              ("json pipelining 16", "json x16", "plaintext x16", 0.9))
# Floors (see the module's doc), each named by the sides of the goal it belongs to (paired_goals).
C_FLOOR_GOAL = (("Spindle", "json"), ("Go", "json"))
C_FLOOR_SIDES = ((C_RESPONDER, "json"), ("Go", "json"))
CODABLE_FLOOR_GOAL = (("Spindle", "json x16"), ("Spindle", "plaintext x16"))
IDLE_GOAL_KIB = 1.0
IDLE_GOAL_KIB_19 = 0.5  # issue #19's, at 10,000 and at 50,000 connections
# Descriptors the large idle test needs beyond its connections: Spindle's own reserve (an
# eighth of its limit, at most 1,024, kept out of its connection cap) and this process's own.
LARGE_FD_MARGIN = 1024 + 64


def large_text(count):
    """How the large idle test runs, for the header (and so the report and the CSV)."""
    n = idle.processes_for(count)
    return (f"; Spindle alone {count:,} on a fresh server of {n} worker processes (--processes {n}) from {n} "
            f"client processes, ~{-(-count // n):,} connections each, as the descriptor limit is per process")


def runs(workload, name):
    return workload.servers is None or name in workload.servers


def parse_arguments():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "out")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spindle", required=True, help="Hello executable (Examples/Hello)")
    parser.add_argument("--hummingbird", required=True, help="hummingbird-peer executable")
    parser.add_argument("--go-peer", required=True, help="http-peer executable (bench/go/httppeer.go)")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--h2o", default="/usr/bin/h2o")
    parser.add_argument("--python", default=sys.executable, help="the Python that has gevent")
    parser.add_argument("--core", help="the checkout Hello was built from (default: this repository)")
    parser.add_argument("--workdir", required=True, help="where configs and server logs go")
    parser.add_argument("--out", default=out, help="directory of peers.csv, peers.md and the plots")
    parser.add_argument("--name", default="peers", help="file name stem of the outputs")
    parser.add_argument("--port", type=int, default=7500, help="base port; uses PORT+1..PORT+8")
    parser.add_argument("--c-server", help="c-http-server executable (bench/http/c-http-server.c): the /json ÷ Go "
                                           "goal's floor")
    parser.add_argument("--coder-reuse", help="coder-reuse executable (bench/json/coder-reuse.swift): the /json x16 ÷ "
                                              "plaintext x16 goal's floor")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--idle-large-connections", type=int, default=50000,
                        help="the large idle test, Spindle only (0: skip it)")
    parser.add_argument("--idle-only", action="store_true",
                        help="only the idle tests, after a 1 s plaintext warm-up per server (no turns, no CPU goals)")
    parser.add_argument("--idle-batch", type=int, default=200, help="connections opened before waiting for responses")
    parser.add_argument("--pairs", type=int, default=5,
                        help="back-to-back pairs of fresh processes per CPU goal, judged by their median ratio")
    parser.add_argument("--pair-seconds", type=float, default=3, help="length of each turn of a pair")
    add_wrk_arguments(parser, reps=3, seconds=4, retry_budget=10, wait_quiet=5)
    parser.add_argument("--quick", action="store_true", help="1 turn of 1 s per server and workload: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup, args.pairs, args.pair_seconds = 1, 1, 1, 1, 1
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    for option, path in (("--c-server", args.c_server), ("--coder-reuse", args.coder_reuse)):
        if path and not os.access(path, os.X_OK):
            parser.error(f"{option} {path}: not an executable")
    args.lua = os.path.abspath(args.lua)
    return args


def start_servers(args, workdir):
    ports = {name: args.port + 1 + i for i, name in enumerate(SERVERS)}
    servers = {}
    for name, (argv, env) in commands(args, workdir, ports).items():
        log = open(os.path.join(workdir, f"{name.lower()}.log"), "w")
        servers[name] = start_server(name, argv, ports[name], args.server_cpu, log, env=env)
    for name in SERVERS:
        probe(name, ports[name], "/json", JSON)
        print(describe_server(name, servers[name], probe(name, ports[name], "/plaintext", PLAINTEXT)))
    return servers, ports


def run_turns(args, servers, ports):
    """Warm-ups, then REPS rotating turns; returns {(server, workload name): [samples]} and CSV rows."""
    def turn(name, w, seconds):
        return run_wrk(args, servers[name], ports[name], w.depth, seconds, w.path)

    for w in WORKLOADS:
        for name in SERVERS:
            if runs(w, name):
                turn(name, w, args.warmup)
    print(f"  warm-ups done ({args.warmup} s per server and workload)", flush=True)
    samples = {(name, w.name): [] for w in WORKLOADS for name in SERVERS if runs(w, name)}
    rows = []
    budget = RetryBudget()
    total, done = args.reps * len(samples), 0
    for rep in range(args.reps):
        shift = rep % len(SERVERS)
        order = SERVERS[shift:] + SERVERS[:shift]
        for w in WORKLOADS:
            for name in (n for n in order if runs(w, n)):
                done += 1
                label = f"[{done:>2}/{total}] {w.name:<13} {name:<11} turn {rep + 1}"
                s = measured_turn(args, budget, label, lambda: turn(name, w, args.seconds))
                samples[(name, w.name)].append(s)
                rows.append({"kind": "sample", "server": name, "workload": w.name, "pipeline": w.depth,
                             "rep": rep + 1, **s})
                print(f"  {label}: {turn_line(s)}", flush=True)
    return samples, rows, budget


def paired_goals():
    """Every CPU goal as (goal, side a, side b, minimum), CPU_GOALS' then JSON_GOALS': a side is
    (server, workload), and the goal is a's req per server-CPU-s ≥ minimum × b's. The goal's
    text keys its pairs' ratios (goal_pairs) and is the start of its goal line (goals)."""
    return ([(f"{label}: Spindle req per server-CPU-s ≥ {minimum:g}× {peer}", ("Spindle", workload), (peer, workload),
              minimum) for label, workload, peer, minimum in CPU_GOALS]
            + [(f"{label}: Spindle /json req per server-CPU-s ≥ {minimum:g}× its /plaintext", ("Spindle", json_workload),
                ("Spindle", plain_workload), minimum) for label, json_workload, plain_workload, minimum in JSON_GOALS])


def goal_pairs(args, workdir, ports, budget, rows):
    """The CPU goals measured as back-to-back pairs of fresh processes (see the module's
    comment; benchutil.run_pairs), and the floors of two of them: ({goal (paired_goals): the
    pairs' ratios, sorted}, {goal: (its floor's line, the note for the goal's line)}). Each pair
    starts the servers it needs, warms each workload up (--warmup), measures the two turns
    (--pair-seconds; order alternating between pairs) and stops the servers. The Codable floor
    runs in each of its goal's pairs, right after the pair's two turns; the C responder's pairs
    after every goal's. Appends every turn to `rows` ("pair-sample"; the C responder's as server
    "C")."""
    argvs = commands(args, workdir, ports)
    if args.c_server:  # after the six servers' ports and the large idle test's
        ports = dict(ports, **{C_RESPONDER: args.port + 2 + len(SERVERS)})
        argvs[C_RESPONDER] = (c_responder_argv(args, ports[C_RESPONDER]), None)
    workloads = {w.name: w for w in WORKLOADS}
    servers = {}  # the current pair's processes, by server

    def turn(side, seconds):
        """One wrk run of `side` (server, workload) on the pair's process of that server."""
        name, workload = side
        w = workloads[workload]
        return run_wrk(args, servers[name], ports[name], w.depth, seconds, w.path)

    @contextlib.contextmanager
    def fresh(order):
        """The pair's servers started fresh (each once; output appended to NAME-pairs.log) and
        each side warmed up, in the pair's order; on leaving, the servers stopped and their logs
        closed."""
        servers.clear()
        logs = []
        try:
            for name in dict.fromkeys(name for name, _ in order):
                argv, env = argvs[name]
                logs.append(open(os.path.join(workdir, f"{name.lower()}-pairs.log"), "a"))
                servers[name] = start_server(name, argv, ports[name], args.server_cpu, logs[-1], env=env)
                probe(name, ports[name], "/plaintext", PLAINTEXT)
            for side in order:
                turn(side, args.warmup)
            yield
        finally:
            for server in servers.values():
                stop(server)
            for log in logs:
                log.close()

    def record(side, pair, s):
        """The turn's CSV row."""
        name, workload = side
        rows.append({"kind": "pair-sample", "server": name, "workload": workload, "pipeline": workloads[workload].depth,
                     "rep": pair, **s})

    def pairs_of(a, b, record=record):
        return run_pairs(args, budget, a, b, args.pairs, lambda side: turn(side, args.pair_seconds), fresh, record,
                         label=lambda side: f"{side[1]:<13} {side[0]:<11}", name=" ".join)

    ratios, floors = {}, {}
    for goal, a, b, minimum in paired_goals():
        if (a, b) == CODABLE_FLOOR_GOAL and args.coder_reuse:
            runs = []  # (coder-reuse floor's figures or why none, the plaintext x16 turn) per pair
            turns = {}  # the current pair's turns by side

            def record_and_floor(side, pair, s, plaintext=b, runs=runs, turns=turns):
                record(side, pair, s)
                turns[side] = s
                if len(turns) == 2:  # after the pair's second turn, seconds after its plaintext one
                    runs.append((run_codable_floor(args), turns[plaintext]))
                    turns.clear()

            ratios[goal] = pair_ratios(pairs_of(a, b, record=record_and_floor))
            floors[goal] = codable_floor(args, runs, minimum)
            continue
        ratios[goal] = pair_ratios(pairs_of(a, b))
    if args.c_server:
        goal = next(goal for goal, a, b, _ in paired_goals() if (a, b) == C_FLOOR_GOAL)
        print(f"  floor of \"{goal}\": the bare C responder (GET /json, its canned answer) against Go's /json",
              flush=True)
        floors[goal] = c_floor(pair_ratios(pairs_of(*C_FLOOR_SIDES)))
    return ratios, floors


def c_floor(ratios):
    """The floor of the /json ÷ Go goal from the pairs' ratios (the C responder's ÷ Go's): (its
    line as goals() gives a goal's, result "floor"; the note for the goal's line)."""
    text, measured, _, ratio = pairs_verdict(
        "json keep-alive: the bare C responder's req per server-CPU-s ÷ Go's (GET /json; the responder answers "
        "with its one canned plaintext response)", ratios, 0, digits=2, what="back-to-back pairs of fresh processes")
    return (text, measured, "floor", ratio), f"; floor: the bare C responder {ratio:.2f}× Go"


def run_codable_floor(args):
    """`coder-reuse floor` pinned to the servers' CPU (the pair's servers idle meanwhile): its
    figures ({"floor_ns": …, "streaming_ns": …, "writable_ns": …, "turns": …, "iterations": …};
    writable_ns missing from a coder-reuse older than JSONWritable), or why there are
    none (a string; the run goes on without this floor)."""
    command = ["taskset", "-c", str(args.server_cpu), args.coder_reuse, "floor"] + (["--quick"] if args.quick else [])
    try:
        r = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return f"{' '.join(command)} ran over 120 s"
    line = re.search(r"^floor .*$", r.stdout, re.M)
    if r.returncode != 0 or not line:
        return f"{' '.join(command)} failed (status {r.returncode}): {(r.stdout + r.stderr).strip()[:200]}"
    print(f"  {line.group(0)}", flush=True)
    v = {key: float(value) for key, value in re.findall(r"(\w+)=(\S+)", line.group(0))}
    if not all(math.isfinite(v.get(key, math.nan)) and v[key] > 0 for key in ("floor_ns", "streaming_ns")):
        return f"{' '.join(command)} printed no usable figures: {line.group(0)}"
    return v


def codable_floor(args, runs, minimum):
    """The floor of the /json x16 ÷ plaintext x16 goal from `runs`, one per pair: (coder-reuse
    floor's figures, run_codable_floor, or why none; the pair's plaintext x16 turn, a few seconds
    before). Per pair, the floor encoder's ns per document over the CPU of a plaintext x16
    request in that turn (1e9 ÷ its req per server-CPU-s); the median of those shares against
    what the goal lets a /json request cost beyond plaintext, encoding included (1 / `minimum` −
    1). Returns (its line as goals() gives a goal's, result "floor", the median share in %; the
    note for the goal's line)."""
    text = "json pipelining 16: Codable's dispatch alone (an Encoder that writes nothing), per document of the message"
    measured = [(v, s) for v, s in runs if isinstance(v, dict)]
    if not measured:
        why = "; ".join(sorted({v for v, _ in runs if isinstance(v, str)})) or "no pair ran"
        return (text, f"not measured: {why}", "floor", math.nan), "; floor: not measured"
    share = 1 / minimum - 1
    shares = sorted(100 * v["floor_ns"] * s["req_per_cpu_s"] / 1e9 for v, s in measured)
    floor_pct = median_of(shares)
    floor_ns = median_of(sorted(v["floor_ns"] for v, _ in measured))
    streaming_ns = median_of(sorted(v["streaming_ns"] for v, _ in measured))
    request_ns = median_of(sorted(1e9 / s["req_per_cpu_s"] for _, s in measured))
    # The route's own encode: the message through its JSONWritable conformance, as Hello's /json.
    writable = [(v, s) for v, s in measured if math.isfinite(v.get("writable_ns", math.nan)) and v["writable_ns"] > 0]
    route, route_note = "", ""
    if writable:
        writable_pct = median_of(sorted(100 * v["writable_ns"] * s["req_per_cpu_s"] / 1e9 for v, s in writable))
        writable_ns = median_of(sorted(v["writable_ns"] for v, _ in writable))
        route = (f"; the route's own encode (StreamingJSONEncoder through the message's JSONWritable conformance, "
                 f"as Hello's /json) {writable_ns:.0f} ns, {writable_pct:.1f} %")
        route_note = f"; Hello's JSONWritable encode {writable_pct:.1f} %"
    v = measured[0][0]
    return ((text,
             f"{floor_pct:.1f} % of a plaintext x16 request's server CPU, median of {len(shares)} pairs "
             f"({shares[0]:.1f}–{shares[-1]:.1f} %; the goal's budget: {100 * share:.1f} %): {floor_ns:.0f} ns per "
             f"document against {request_ns:.0f} ns per request (medians); StreamingJSONEncoder through Encodable "
             f"{streaming_ns:.0f} ns{route} "
             f"(coder-reuse floor on CPU {args.server_cpu} right after each pair's two turns: "
             f"{v['turns']:.0f} interleaved turns of {v['iterations']:,.0f} encodes)",
             "floor", floor_pct),
            f"; floor of an Encodable route: Codable's dispatch alone {floor_pct:.1f} % of a plaintext x16 request's CPU "
            f"(budget {100 * share:.1f} %){route_note}")


def stop(server):
    """SIGTERM, then SIGKILL if it has not exited within 10 s; waits for it."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def print_idle(name, r):
    print(f"  idle {name:<11} held {r['held']:>6,} of {r['connections']:,} in {r['open_s']:.1f} s, "
          f"RSS {r['rss_before_kib']:,} -> {r['rss_after_kib']:,} KiB, {r['kib_per_connection']:.2f} KiB per "
          f"connection" + (f" (not held: {r['failures']})" if r["failures"] else ""), flush=True)


def run_idle(args, servers, ports):
    results = {}
    for name in SERVERS:
        try:
            r = idle.hold_idle(servers[name], ports[name], args.idle_connections, args.idle_batch, args.client_cpu)
        except idle.ServerExited as e:
            die(str(e))
        results[name] = r
        print_idle(name, r)
    return results


def run_idle_large(args, workdir, nofile):
    """The large idle test on a fresh Spindle of several worker processes (see the module's
    doc): its hold_idle_spread result, or None and the reason it could not run. Never fatal: a
    server that exits is a result too."""
    count = args.idle_large_connections
    processes = idle.processes_for(count)
    needed = -(-count // processes) * 5 // 4 + LARGE_FD_MARGIN  # a share, SO_REUSEPORT's unevenness, the reserve
    if nofile < needed:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        return None, (f"not run: RLIMIT_NOFILE is {nofile:,} (hard limit {hard:,}), {needed:,} needed per process "
                      f"(raising the hard limit needs CAP_SYS_RESOURCE: `ulimit -Hn {needed}` as root before the run)")
    # After the six servers' ports; the old Spindle has stopped, a fresh one starts without the
    # heap the 10,000-connection test left behind (that would hide part of the growth).
    port = args.port + 1 + len(SERVERS)
    with open(os.path.join(workdir, "spindle-large-idle.log"), "w") as log:
        server = start_server("Spindle (large idle test)", spindle_argv(args, port) + ["--processes", str(processes)],
                              port, args.server_cpu, log)
        try:
            probe("Spindle", port, "/plaintext", PLAINTEXT)
            run_wrk(args, server, port, 1, args.warmup, "/plaintext")
            r = idle.hold_idle_spread(server, port, count, args.idle_batch, args.client_cpu, processes)
        except idle.ServerExited as e:
            return None, f"not held: {e} (log: {log.name})"
        finally:
            stop(server)
    with open(log.name) as f:
        cap = re.search(r"up to (\d+) connections per worker", f.read())
    print_idle("Spindle", r)
    print(f"  idle Spindle     its {r['server_processes']} worker processes held {r['per_process']} connections"
          + (f" (cap {int(cap.group(1)):,} each, from its log)" if cap else ""), flush=True)
    return r, None


def medians(samples):
    keys = ("requests", "seconds", "req_per_s", "p50_us", "p90_us", "p99_us", "max_us", "server_cpu_s",
            "server_cpu_pct", "schedstat_cpu_s", "client_cpu_pct", "req_per_cpu_s")
    result = {}
    for (name, workload), every in samples.items():
        ss = kept(every)
        result[(name, workload)] = {
            **{k: med(ss, k) for k in keys},
            "rps_min": min(s["req_per_s"] for s in ss), "rps_max": max(s["req_per_s"] for s in ss),
            "cpu_min": min(s["req_per_cpu_s"] for s in ss), "cpu_max": max(s["req_per_cpu_s"] for s in ss),
            "errors": sum(s["errors"] for s in every), "used": len(ss), "turns": len(every),
            "disturbed": sum(s["disturbed"] for s in ss),
        }
    return result


def idle_goal(r, connections, limit_kib):
    """(goal, measured, PASS/FAIL, KiB) for Spindle's idle test `r` (held them all, ≤ limit_kib)."""
    kib = r["kib_per_connection"]
    held_all = r["held"] == connections
    return (f"idle keep-alive: Spindle ≤ {limit_kib:g} KiB RSS per connection ({connections:,} held)",
            f"{kib:.2f} KiB, {r['held']:,} of {connections:,} held" + (f" (not held: {r['failures']})"
                                                                         if r["failures"] else ""),
            "PASS" if held_all and kib <= limit_kib else "FAIL", kib)


def goals(summary, goal_ratios, floors, idle_results, idle_connections, large, large_connections):
    """[(goal, measured, PASS/FAIL, ratio or KiB)] for the issues' goals. CPU goals (only when
    turns ran, not with --idle-only) by the median of their pairs (`goal_ratios`, from
    `goal_pairs`), with the rotation's ratio of the two sides' medians beside it; a goal with a
    floor (`floors`, from `goal_pairs`) has the floor's note in its line and the floor's line,
    result "floor", right under it. `large`: (the large idle test's result or None, why it has
    none); large_connections 0: not asked for."""
    result = []
    if summary:
        for goal, a, b, minimum in paired_goals():
            x, y = summary[a]["req_per_cpu_s"], summary[b]["req_per_cpu_s"]
            floor, floor_note = floors.get(goal, (None, ""))
            result.append(pairs_verdict(goal, goal_ratios[goal], minimum, digits=2,
                                        what="back-to-back pairs of fresh processes",
                                        note=f"; the rotation's medians {x / y:.2f}×, {x:,.0f} vs {y:,.0f}{floor_note}"))
            if floor:
                result.append(floor)
    result.append(idle_goal(idle_results["Spindle"], idle_connections, IDLE_GOAL_KIB))
    result.append(idle_goal(idle_results["Spindle"], idle_connections, IDLE_GOAL_KIB_19))
    if large_connections:
        r, why = large
        if r is None:
            result.append((f"idle keep-alive: Spindle ≤ {IDLE_GOAL_KIB_19:g} KiB RSS per connection "
                           f"({large_connections:,} held)", why, "FAIL", float("nan")))
        else:
            result.append(idle_goal(r, large_connections, IDLE_GOAL_KIB_19))
    return result


def main():
    args = parse_arguments()
    report.check_plotting()
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    # Before any server starts: they inherit it. The large test takes what the hard limit allows.
    nofile = idle.raise_nofile(args.idle_connections + 4096, args.idle_large_connections + LARGE_FD_MARGIN)
    install_cleanup()
    started = time.monotonic()
    root = os.path.abspath(args.core or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    header = print_header(args, root, "Spindle beside nginx, h2o, Go net/http, Hummingbird 2 and gevent "
                          "(one worker on one core each)",
                          report.tool_versions(args))
    large_how = large_text(args.idle_large_connections) if args.idle_large_connections else ""
    turns_text = (f"no turns (--idle-only: a {args.warmup:g} s plaintext warm-up per server)" if args.idle_only else
                  f"{args.reps} rotating turns per server and workload, {args.seconds:g} s each (after a "
                  f"{args.warmup:g} s warm-up per server and workload); medians (min–max)")
    header.append(("samples", f"{turns_text}; idle test {args.idle_connections:,} connections{large_how} "
                              f"(RLIMIT_NOFILE {nofile})"))
    print(f"{'samples':<10} {header[-1][1]}\n")
    servers, ports = start_servers(args, workdir)
    print()
    if args.idle_only:
        # The idle tests' RSS growth depends on what the server did before (memory freed after
        # load is reused by the idle connections): a 1 s plaintext turn each stands in for the
        # turns of a full run, as it does for the fresh server of the large test.
        for name in SERVERS:
            run_wrk(args, servers[name], ports[name], 1, args.warmup, "/plaintext")
        samples, rows, budget = {}, [], RetryBudget()
    else:
        samples, rows, budget = run_turns(args, servers, ports)
    idle_results = run_idle(args, servers, ports)
    for name in SERVERS:  # all of them, so the large test has the memory and descriptors they held
        stop(servers[name])
    large = run_idle_large(args, workdir, nofile) if args.idle_large_connections else (None, None)
    if large[1]:
        print(f"  idle Spindle     {args.idle_large_connections:,} connections: {large[1]}", flush=True)
    goal_ratios, floors = {}, {}
    if not args.idle_only:
        print(f"\n  goals' pairs: {args.pairs} per goal, {args.pair_seconds:g} s turns, fresh processes", flush=True)
        goal_ratios, floors = goal_pairs(args, workdir, ports, budget, rows)

    summary = medians(samples)
    outcome = goals(summary, goal_ratios, floors, idle_results, args.idle_connections, large,
                    args.idle_large_connections)
    workloads = [] if args.idle_only else [w.name for w in WORKLOADS]
    paths = report.write_all(args, header, workloads, SERVERS, summary, idle_results, large[0], outcome, rows)
    kill_children()
    print_footer(args, budget, samples.values(), started, "written: " + ", ".join(paths))


if __name__ == "__main__":
    main()
