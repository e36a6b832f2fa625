"""Output of `make -C bench peers` (bench/peers/run.py): the Markdown tables (printed and written
to out/peers.md), out/peers.csv, and the matplotlib plots out/peers-*.png (Agg backend, no
display needed). Imported by run.py; not run by itself.

  peers-req-per-s.png       req/s per server and workload (bars: medians; whiskers: min–max;
                            no bar where a server does not run the workload)
  peers-req-per-cpu-s.png   requests per server-CPU-second, the same way
  peers-latency.png         p50 / p90 / p99 per server, one panel per workload (log scale)
  peers-idle.png            RSS growth per idle keep-alive connection (KiB, log scale), one bar
                            per server at 10,000 and Spindle's at 50,000; the goal lines
The first three are not drawn with --idle-only (no turns).
"""
import importlib.util
import os

from benchutil import die, fmt_us, tool_version, write_csv

CSV_FIELDS = ["kind", "server", "workload", "pipeline", "rep", "requests", "seconds", "req_per_s", "p50_us", "p90_us",
              "p99_us", "max_us", "samples", "server_cpu_s", "server_cpu_pct", "schedstat_cpu_s", "client_cpu_pct",
              "req_per_cpu_s", "rps_min", "rps_max", "cpu_min", "cpu_max", "errors", "other_on_server_cpu_pct",
              "other_on_client_cpu_pct", "disturbed", "connections", "held", "rss_before_kib", "rss_after_kib",
              "kib_per_connection", "failures", "goal", "measured", "result", "value", "server_processes",
              "client_processes", "per_process"]


def check_plotting():
    """Fails early (before a five-minute run) when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        die("matplotlib is missing: `python3 -m pip install matplotlib` (or `make bench-peers`, which installs it)")


def tool_versions(args):
    return [tool_version([args.wrk, "--version"]), tool_version([args.nginx, "-v"]),
            tool_version([args.h2o, "--version"]), tool_version(["go", "version"]), "Hummingbird 2.28.1",
            tool_version([args.python, "-c", "import gevent, sys; print('gevent', gevent.__version__, 'on Python', "
                                             "sys.version.split()[0])"])]


def servers_of(servers, summary, workload):
    """The servers that ran `workload` (json x16 runs on three of them)."""
    return [name for name in servers if (name, workload) in summary]


def markdown(header, workloads, servers, summary, idle_results, large, outcome):
    """The report as Markdown lines (also what run.py prints). `large`: the large idle test's
    result (Spindle alone), or None."""
    lines = ["# Peers: Spindle beside nginx, h2o, Go net/http, Hummingbird 2 and gevent", "",
             "Produced by `make -C bench peers` (bench/peers/run.py); see Docs/benchmarks/peers.md.", "",
             "| | |", "|---|---|"]
    lines += [f"| {label} | {text} |" for label, text in header]
    for workload in workloads:
        spindle = summary[("Spindle", workload)]["req_per_cpu_s"]
        names = servers_of(servers, summary, workload)
        lines += ["", f"## {workload}", ""]
        if len(names) < len(servers):
            lines += [f"Run on {', '.join(names)} only.", ""]
        lines += ["| server | req/s (median) | min–max | p50 | p90 | p99 | server CPU | req per server-CPU-s (median) "
                  "| min–max | Spindle ÷ server (per CPU-s) | errors | turns used (disturbed) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name in names:
            m = summary[(name, workload)]
            lines.append(f"| {name} | {m['req_per_s']:,.0f} | {m['rps_min']:,.0f}–{m['rps_max']:,.0f} | "
                         f"{fmt_us(m['p50_us'])} | {fmt_us(m['p90_us'])} | {fmt_us(m['p99_us'])} | "
                         f"{m['server_cpu_pct']:.0f} % | {m['req_per_cpu_s']:,.0f} | "
                         f"{m['cpu_min']:,.0f}–{m['cpu_max']:,.0f} | {spindle / m['req_per_cpu_s']:.2f}× | "
                         f"{m['errors']} | {m['used']} of {m['turns']} ({m['disturbed']}) |")
    lines += ["", "## Idle keep-alive connections", "",
              "| server | held | RSS before | RSS after | KiB per connection | not held |",
              "|---|---:|---:|---:|---:|---|"]
    for name in servers:
        r = idle_results[name]
        lines.append(f"| {name} | {r['held']:,} of {r['connections']:,} | {r['rss_before_kib']:,} KiB | "
                     f"{r['rss_after_kib']:,} KiB | {r['kib_per_connection']:.2f} | {r['failures'] or '—'} |")
    if large:
        lines.append(f"| Spindle (fresh server, {large['server_processes']} worker processes, "
                     f"{large['client_processes']} client processes) | {large['held']:,} of {large['connections']:,} | "
                     f"{large['rss_before_kib']:,} KiB | {large['rss_after_kib']:,} KiB | "
                     f"{large['kib_per_connection']:.2f} | {large['failures'] or '—'} |")
    lines += ["", "## Goals", "", "| goal | measured | result |", "|---|---|---|"]
    lines += [f"| {goal} | {measured} | {result} |" for goal, measured, result, _ in outcome]
    if any(result == "floor" for _, _, result, _ in outcome):
        lines += ["", "A row whose result is \"floor\" is not a goal: measured in the same run, it is what the goal "
                      "above it is up against whatever Spindle does (Docs/benchmarks/peers.md, \"Floors\")."]
    return lines


def grouped_bars(ax, groups, series, value, whiskers=None, log=False):
    """Bars for every (group, series) pair: value(group, series) -> height (NaN: no bar);
    whiskers(group, series) -> (low, high) or None."""
    width = 0.8 / len(series)
    for j, s in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        heights = [value(g, s) for g in groups]
        errors = None
        if whiskers:
            lows, highs = zip(*(whiskers(g, s) for g in groups))
            errors = [[h - lo for h, lo in zip(heights, lows)], [hi - h for h, hi in zip(heights, highs)]]
        ax.bar(xs, heights, width, label=s, yerr=errors, capsize=2)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)


def plots(out, stem, title, workloads, servers, summary, idle_results, large):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    def save(fig, suffix):
        path = os.path.join(out, f"{stem}-{suffix}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    nan = float("nan")

    def entry(server, workload, key):
        m = summary.get((server, workload))
        return m[key] if m else nan

    if workloads:
        for key, low, high, suffix, ylabel in (("req_per_s", "rps_min", "rps_max", "req-per-s", "requests per second"),
                                               ("req_per_cpu_s", "cpu_min", "cpu_max", "req-per-cpu-s",
                                                "requests per server-CPU-second")):
            fig, ax = plt.subplots(figsize=(11, 5))
            grouped_bars(ax, workloads, servers, lambda w, s: entry(s, w, key),
                         lambda w, s: (entry(s, w, low), entry(s, w, high)))
            ax.set_ylabel(ylabel)
            ax.set_title(f"{title}: {ylabel} (median, min–max)")
            ax.legend(fontsize="small")
            save(fig, suffix)

        fig, axes = plt.subplots(1, len(workloads), figsize=(4 * len(workloads) + 3, 5), sharey=True, squeeze=False)
        axes = axes[0]
        for ax, w in zip(axes, workloads):
            names = servers_of(servers, summary, w)
            grouped_bars(ax, names, ("p50", "p90", "p99"), lambda s, p: summary[(s, w)][f"{p}_us"], log=True)
            ax.set_title(w)
            ax.tick_params(axis="x", labelrotation=30)
        axes[0].set_ylabel("latency (µs, log scale)")
        axes[0].legend(fontsize="small")
        fig.suptitle(f"{title}: latency percentiles (median of the turns)")
        save(fig, "latency")

    fig, ax = plt.subplots(figsize=(10, 5))
    labels = list(servers)
    results = [idle_results[s] for s in servers]
    if large:
        labels.append(f"Spindle\n{large['connections']:,}")
        results.append(large)
    values = [r["kib_per_connection"] for r in results]
    bars = ax.bar(labels, [v if v == v and v > 0 else 0.01 for v in values])
    for bar, r, v in zip(bars, results, values):
        note = f"{v:.2f}" + ("" if r["held"] == r["connections"] else f"\nheld {r['held']:,}")
        ax.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize="small")
    ax.axhline(1.0, color="red", linestyle="--", linewidth=1, label="goal: 1 KiB per connection")
    ax.axhline(0.5, color="purple", linestyle=":", linewidth=1, label="goal (issue #19): 0.5 KiB per connection")
    ax.set_yscale("log")
    ax.set_ylabel("RSS growth per idle connection (KiB, log scale)")
    ax.set_title(f"{title}: idle keep-alive memory ({idle_results['Spindle']['connections']:,} connections"
                 + (f"; last bar: a fresh Spindle with {large['connections']:,}" if large else "") + ")")
    ax.legend(fontsize="small")
    save(fig, "idle")
    return paths


def write_all(args, header, workloads, servers, summary, idle_results, large, outcome, rows):
    """Prints the tables and the PASS/FAIL lines (and the floor lines, under their goals); writes
    the CSV (goals kind=goal, floors kind=floor), the Markdown and the plots; returns the paths
    written. `large`: the large idle test's result, or None."""
    os.makedirs(args.out, exist_ok=True)
    lines = markdown(header, workloads, servers, summary, idle_results, large, outcome)
    paths = plots(args.out, args.name, "Peers", workloads, servers, summary, idle_results, large)
    lines += ["", "## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in paths]
    print("\n" + "\n".join(lines[6 + len(header):]))
    print()
    for goal, measured, result, _ in outcome:
        print(f"{result}  {goal}: {measured}")
    md = os.path.join(args.out, f"{args.name}.md")
    with open(md, "w") as f:
        f.write("\n".join(lines) + "\n")
    rows = list(rows)
    rows += [{"kind": "median", "server": s, "workload": w, **summary[(s, w)]}
             for w in workloads for s in servers_of(servers, summary, w)]
    rows += [{"kind": "idle", "server": s, **idle_results[s]} for s in servers]
    if large:
        rows.append({"kind": "idle-large", "server": "Spindle", **large})
    rows += [{"kind": "floor" if r == "floor" else "goal", "goal": g, "measured": m, "result": r, "value": v}
             for g, m, r, v in outcome]
    csv_path = os.path.join(args.out, f"{args.name}.csv")
    write_csv(csv_path, CSV_FIELDS, rows)
    return [csv_path, md] + paths
