#!/usr/bin/env python3
"""Plots a soak run's samples (the CSV soakdriver writes) into one PNG: RSS and allocator bytes in
use, descriptors, live fibers and stacks in use, pooled objects in use, over time, with the end of
the warm-up marked.

    plot.py SAMPLES.csv OUT.png [--title TEXT]
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("samples")
    parser.add_argument("out")
    parser.add_argument("--title", default="Spindle soak")
    args = parser.parse_args()
    with open(args.samples) as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] in ("warmup", "load")]
    if not rows:
        raise SystemExit("no samples under load in " + args.samples)
    minutes = [float(r["seconds"]) / 60 for r in rows]
    warm_end = next((m for m, r in zip(minutes, rows) if r["phase"] == "load"), None)

    def series(name, scale=1.0):
        return [float(r[name]) / scale for r in rows]

    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    mib = 1 << 20
    ax = axes[0][0]
    ax.plot(minutes, series("rss_bytes", mib), label="RSS")
    # glibc and jemalloc report bytes in use; mimalloc reports what it has committed
    for name, label in (("spindle_allocator_bytes_in_use", "allocator bytes in use"),
                        ("spindle_allocator_committed_bytes", "allocator committed")):
        if name in rows[0] and any(float(r[name]) > 0 for r in rows):
            ax.plot(minutes, series(name, mib), label=label)
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.set_title("memory")
    ax = axes[0][1]
    ax.plot(minutes, series("fds"), label="open descriptors")
    ax.plot(minutes, series("spindle_connections_open"), label="open connections")
    ax.set_ylim(bottom=0)
    ax.set_title("descriptors and connections")
    ax = axes[1][0]
    ax.plot(minutes, series("spindle_fibers_live"), label="live fibers")
    ax.plot(minutes, series("spindle_fiber_stacks_in_use"), label="stacks in use")
    ax.plot(minutes, series("spindle_fiber_stacks_mapped"), label="stacks mapped")
    ax.set_ylim(bottom=0)
    ax.set_title("fibers and stacks")
    ax = axes[1][1]
    ax.plot(minutes, series("spindle_pool_in_use"), label="pooled objects in use")
    ax.plot(minutes, series("spindle_pool_available"), label="pooled objects available")
    ax.set_ylim(bottom=0)
    ax.set_title("pools (all types, both workers)")
    for row in axes:
        for ax in row:
            if warm_end is not None:
                ax.axvline(warm_end, color="grey", linestyle=":", linewidth=1)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("minutes (dotted: end of warm-up)")
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
