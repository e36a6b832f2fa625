"""Tables and plots of the scalability benchmark (bench/scale/scale.py, `make -C bench scale`).
Imported by scale.py, not run by itself:

  header(root, args)       the run's facts: date, CPU, kernel, commit, tool versions, load, pinning
  markdown(header, rows, args, goals)
                           the report written to out/scale.md: fibers (create time beside the
                           kernel's floors, memory, switch cost; Spindle against Go and gevent),
                           HTTP (per level) and the goals (PASS/FAIL, and the floor lines)
  plots(rows, folder)      scale-memory.png, scale-create.png, scale-switch.png, scale-http.png
                           (matplotlib with the Agg backend; skipped, with a note, without it)
"""
import os
import platform
import subprocess
import sys
import time

import benchutil

CSV_FIELDS = ["kind", "runtime", "mode", "size", "requested", "rep", "wall_s", "create_ns_per_fiber",
              "rss_per_fiber", "pte_per_fiber", "guard", "rounds", "switches", "switch_ns", "ms", "connections",
              "connected", "connect_errors", "connect_s", "requests", "errors", "unfinished", "req_per_s",
              "ideal_req_per_s", "p50_us", "p99_us", "max_us", "rss_base", "rss_connected", "rss_full",
              "inflight_at_full", "rss_peak", "rss_per_connection", "rss_per_request", "server_cpu_s",
              "cpu_us_per_request", "result", "note", "cap", "goal", "measured", "value"]
RUNTIMES = ("Spindle", "Go", "gevent")
COLORS = {"Spindle": "tab:blue", "Go": "tab:green", "gevent": "tab:orange"}


def gevent_versions():
    try:
        out = subprocess.run([sys.executable, "-c", "import gevent, greenlet; print(gevent.__version__, greenlet.__version__)"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        return f"gevent {out[0]}, greenlet {out[1]}"
    except Exception:
        return "gevent not importable"


def header(root, args):
    return [
        ("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        ("cpu", f"{benchutil.cpu_model()}, {os.cpu_count()} online"),
        ("kernel", platform.release()),
        ("core", benchutil.git_revision(root)),
        ("tools", f"{benchutil.tool_version(['go', 'version'])}; Python {platform.python_version()}, {gevent_versions()}"),
        ("load", f"{benchutil.load_average()} (1/5/15 min; other busy processes skew the numbers)"),
        ("pinning", f"fiber runs on CPU {args.fiber_cpu}; HTTP servers on CPU {args.server_cpu}, hold-client on CPU "
                    f"{args.client_cpu}; Go GOMAXPROCS=1, Spindle --workers 1, gevent one process"),
        ("samples", f"fresh process per measurement; sizes below 10k: median of {args.reps * 3}, below 100k: of {args.reps}, larger: one run; "
                    f"floors: one of each after every parked turn, at least {args.reps} per size (median); "
                    f"HTTP: one run per server and level, {args.rounds} requests of {args.ms} ms per connection"),
    ]


def kib(value):
    return f"{value / 1024:.2f}" if value == value else "—"


def ratio(peer, spindle):
    """How many times Spindle's number the peer's is (> 1: the peer costs more)."""
    if peer is None or spindle is None or not spindle:
        return "—"
    return f"{peer / spindle:.2f}×"


def fiber_table(title, medians, caps, mode, field, unit, fmt, floors=None):
    """A table of `field` per size, Spindle against its peers; with `floors` ({(floor mode, size):
    ns per slot}) the create table's floor columns too: the first-touch and guarded floors and
    Spindle's and Go's time over the guarded one (the ratios' other way round: floor below)."""
    sizes = sorted({n for (_, m, n) in medians if m == mode} | {n for (_, m, n) in caps if m == mode})
    head = f"| fibers | Spindle ({unit}) | Go ({unit}) | gevent ({unit}) | Go ÷ Spindle | gevent ÷ Spindle |"
    rule = "|---:|---:|---:|---:|---:|---:|"
    if floors is not None:
        head += f" first-touch floor ({unit}) | guarded floor ({unit}) | Spindle ÷ guarded floor | Go ÷ guarded floor |"
        rule += "---:|---:|---:|---:|"
    lines = [f"### {title}", "", head, rule]
    for n in sizes:
        values = {rt: (medians.get((rt, mode, n)) or {}).get(field) for rt in RUNTIMES}
        cells = [fmt(values[rt]) if values[rt] is not None else ("capped" if (rt, mode, n) in caps else "—")
                 for rt in RUNTIMES]
        line = (f"| {n:,} | {cells[0]} | {cells[1]} | {cells[2]} | {ratio(values['Go'], values['Spindle'])} | "
                f"{ratio(values['gevent'], values['Spindle'])} |")
        if floors is not None:
            touch, guarded = floors.get(("touch", n)), floors.get(("touch-guarded", n))
            line += (f" {fmt(touch) if touch is not None else '—'} | {fmt(guarded) if guarded is not None else '—'} | "
                     f"{ratio(values['Spindle'], guarded)} | {ratio(values['Go'], guarded)} |")
        lines.append(line)
    return lines + [""]


def markdown(head, rows, args, goals):
    medians = {(r["runtime"], r["mode"], r["size"]): r for r in rows if r["kind"] == "fiber-median"}
    caps = {(r["runtime"], r["mode"], r["size"]): r["note"] for r in rows if r["kind"] == "fiber-cap"}
    floors = {(r["mode"], r["size"]): r["create_ns_per_fiber"] for r in rows if r["kind"] == "floor-median"}
    lines = ["# Scalability (`make -C bench scale" + ("-quick" if args.quick else "") + "`)", ""]
    lines += [f"    {label:<10} {text}" for label, text in head] + [""]
    lines += fiber_table("Create: spawn + run to the park, per fiber", medians, caps, "parked",
                         "create_ns_per_fiber", "ns", lambda v: f"{v:,.0f}", floors)
    lines += ["Floors (C, no fiber code, fresh processes): **first-touch floor** `fiber-bench touch N`, one "
              "page faulted in per slot of the pool's stride; **guarded floor** `fiber-bench touch-guarded N`, "
              "the same plus the pool's guards (one batched `MADV_GUARD_INSTALL` per 1,024 slots): the kernel's "
              "work for one guarded stack per fiber. Go ÷ guarded floor below 1×: Go creates a parked goroutine "
              "in less time than that work takes.", ""]
    lines += fiber_table("Memory: VmRSS growth per parked fiber", medians, caps, "parked",
                         "rss_per_fiber", "KiB", kib)
    lines += fiber_table("Page tables: VmPTE growth per parked fiber (not in RSS)", medians, caps, "parked",
                         "pte_per_fiber", "KiB", kib)
    lines += fiber_table("Switch: ns per yield with N fibers in the round-robin", medians, caps, "round-robin",
                         "switch_ns", "ns", lambda v: f"{v:,.1f}")
    if caps:
        lines += ["Capped:", ""] + [f"- {rt} {mode}: {note}" for (rt, mode, _), note in sorted(caps.items())] + [""]
    http = [r for r in rows if r["kind"] == "http-run"]
    if http:
        lines += [f"### HTTP: C concurrent `GET /sleep?ms={args.ms}`, {args.rounds} per connection, one core", "",
                  "| concurrent | server | req/s | ideal | p50 | p99 | max | RSS base | KiB per idle connection | "
                  "KiB per in-flight request | µs CPU per request | answered | errors | unfinished | result |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in sorted(http, key=lambda r: (r["size"], RUNTIMES.index(r["runtime"]))):
            size = f"{r['size']:,}" + ("*" if r["note"] else "")
            lines.append(
                f"| {size} | {r['runtime']} | {r['req_per_s']:,.0f} | {r['ideal_req_per_s']:,.0f} | "
                f"{benchutil.fmt_us(r['p50_us'])} | {benchutil.fmt_us(r['p99_us'])} | {benchutil.fmt_us(r['max_us'])} | "
                f"{r['rss_base'] / 2**20:.1f} MiB | {kib(r['rss_per_connection'])} | {kib(r['rss_per_request'])} | "
                f"{r['cpu_us_per_request']:.1f} | {r['requests']:,} | {r['errors']:,} | {r['unfinished']:,} | {r['result']} |")
        notes = sorted({r["note"] for r in http if r["note"]})
        lines += [""] + [f"\\* {note} (hard limit; raising it needs CAP_SYS_RESOURCE)" for note in notes]
        lines += ["", "PASS: every request of every connection got its 200 within the timeout.", ""]
    lines += ["### Goals (issue #19)", "", "| goal | measured | result |", "|---|---|---|"]
    lines += [f"| {goal} | {measured} | {result} |" for goal, measured, result, _ in goals] + [""]
    if any(result == "floor" for _, _, result, _ in goals):
        lines += ["floor: not a goal; the guarded floor of the size and each runtime's create time over it.", ""]
    return "\n".join(lines)


def series(rows, runtime, mode, field):
    points = sorted((r["size"], r[field]) for r in rows
                    if r["kind"] == "fiber-median" and r["runtime"] == runtime and r["mode"] == mode and field in r)
    return [p[0] for p in points], [p[1] for p in points]


def plots(rows, folder):
    """Writes the PNGs; returns their paths (none when matplotlib is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench-scale: matplotlib is not installed (pip install matplotlib): no plots", file=sys.stderr)
        return []
    os.makedirs(folder, exist_ok=True)
    written = []

    def style(ax, xlabel, ylabel, title):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()

    def save(fig, name):
        path = os.path.join(folder, name)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    def fiber_plot(name, mode, field, scale, ylabel, title, logy):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for rt in RUNTIMES:
            x, y = series(rows, rt, mode, field)
            if x:
                ax.plot(x, [v * scale for v in y], "o-", color=COLORS[rt], label=rt)
            if field == "rss_per_fiber":
                x, y = series(rows, rt, mode, "pte_per_fiber")
                _, r = series(rows, rt, mode, "rss_per_fiber")
                if x:
                    ax.plot(x, [(a + b) * scale for a, b in zip(y, r)], "--", color=COLORS[rt], alpha=0.6,
                            label=f"{rt} RSS + page tables")
        if field == "create_ns_per_fiber":
            points = sorted((r["size"], r[field]) for r in rows if r["kind"] == "floor-median" and r["mode"] == "touch-guarded")
            if points:
                ax.plot([p[0] for p in points], [p[1] * scale for p in points], "s:", color="grey",
                        label="guarded floor (C, no fiber code)")
        if logy:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        style(ax, "fibers / goroutines / greenlets (log)", ylabel, title)
        save(fig, name)

    fiber_plot("scale-memory.png", "parked", "rss_per_fiber", 1 / 1024, "KiB per parked fiber",
               "Memory per parked fiber (VmRSS growth)", False)
    fiber_plot("scale-create.png", "parked", "create_ns_per_fiber", 1, "ns per fiber (log)",
               "Create: spawn + run to the park", True)
    fiber_plot("scale-switch.png", "round-robin", "switch_ns", 1, "ns per switch (log)",
               "Switch cost with N fibers in the run queue", True)

    http = [r for r in rows if r["kind"] == "http-run"]
    if http:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
        for rt in RUNTIMES:
            pts = sorted((r["size"], r["rss_per_request"] / 1024, r["p99_us"] / 1000) for r in http if r["runtime"] == rt)
            if pts:
                left.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=COLORS[rt], label=rt)
                right.plot([p[0] for p in pts], [p[2] for p in pts], "o-", color=COLORS[rt], label=rt)
        ms = http[0]["ms"]
        right.axhline(ms, color="grey", linestyle=":", label=f"hold time {ms} ms")
        left.set_ylim(bottom=0)
        style(left, "concurrent requests (log)", "KiB server RSS per in-flight request", "Server memory per parked request")
        style(right, "concurrent requests (log)", "p99 latency (ms)", "p99 latency")
        save(fig, "scale-http.png")
    return written
