"""The allocator settings `make -C bench alloc-tune` measures (bench/alloc/run.py --tune): the
seed's tuning tables applied to Spindle, one give-back turn per row, each set through the
allocator's own environment variable on a fresh server (the Makefile target runs them after the
untuned allocator, which is the row each is compared with).

Each entry: (allocator, label, environment). The label is what the tables print; the
environment is added to the server's. The names are those the installed libraries read:

  mimalloc 2.0.9  MIMALLOC_DECOMMIT_DELAY (2.1 calls it purge_delay: MIMALLOC_PURGE_DELAY, which
                  2.0.9 ignores), MIMALLOC_SEGMENT_DECOMMIT_DELAY, MIMALLOC_EAGER_COMMIT,
                  MIMALLOC_RESERVE_OS_MEMORY (2.1: MIMALLOC_ARENA_RESERVE, ignored by 2.0.9),
                  MIMALLOC_PAGE_RESET, MIMALLOC_ABANDONED_PAGE_DECOMMIT. A 2.1 name is in the list
                  once, to show in the verified line that the option did not change
  jemalloc 5.3    MALLOC_CONF (narenas, dirty_decay_ms, muzzy_decay_ms, background_thread)
  tcmalloc 2.10   TCMALLOC_RELEASE_RATE, TCMALLOC_AGGRESSIVE_DECOMMIT,
                  TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES
  glibc 2.36      MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, MALLOC_TOP_PAD_

allocstats.so reads back what mimalloc, jemalloc and tcmalloc run with (its `knobs=` line,
printed with each turn's verified allocator), so a variable the library ignores shows as an
unchanged setting. glibc has no getter: its rows are checked by their effect only.
"""

TUNING = [
    # mimalloc 2.0.9 (defaults: decommit_delay 25 ms, segment_decommit_delay 500 ms, eager_commit 1,
    # eager_commit_delay 1, reserve_os_memory 0, page_reset 0, abandoned_page_decommit 0)
    ("mimalloc", "mimalloc PURGE_DELAY=0 (2.1 name)", {"MIMALLOC_PURGE_DELAY": "0"}),
    ("mimalloc", "mimalloc DECOMMIT_DELAY=0", {"MIMALLOC_DECOMMIT_DELAY": "0"}),
    # 2.0.9's own default, set explicitly: what a process that called Allocator.prepareForRelease
    # (delay 0) is compared against when the environment cannot be left empty.
    ("mimalloc", "mimalloc DECOMMIT_DELAY=25", {"MIMALLOC_DECOMMIT_DELAY": "25"}),
    ("mimalloc", "mimalloc DECOMMIT_DELAY=0 SEGMENT_DECOMMIT_DELAY=0",
     {"MIMALLOC_DECOMMIT_DELAY": "0", "MIMALLOC_SEGMENT_DECOMMIT_DELAY": "0"}),
    ("mimalloc", "mimalloc EAGER_COMMIT=0", {"MIMALLOC_EAGER_COMMIT": "0"}),
    ("mimalloc", "mimalloc RESERVE_OS_MEMORY=256MiB", {"MIMALLOC_RESERVE_OS_MEMORY": "256MiB"}),
    ("mimalloc", "mimalloc PAGE_RESET=1", {"MIMALLOC_PAGE_RESET": "1"}),
    ("mimalloc", "mimalloc ABANDONED_PAGE_DECOMMIT=1", {"MIMALLOC_ABANDONED_PAGE_DECOMMIT": "1"}),
    # glibc 2.36 (defaults: 8 × cores arenas; trim threshold 128 KiB and mmap threshold 128 KiB,
    # both raised dynamically up to 32 MiB / 64 MiB by freed mmapped chunks; top pad 128 KiB)
    ("glibc", "glibc MALLOC_TRIM_THRESHOLD_=128KiB", {"MALLOC_TRIM_THRESHOLD_": "131072"}),
    ("glibc", "glibc MALLOC_MMAP_THRESHOLD_=64KiB", {"MALLOC_MMAP_THRESHOLD_": "65536"}),
    ("glibc", "glibc MALLOC_ARENA_MAX=1", {"MALLOC_ARENA_MAX": "1"}),
    ("glibc", "glibc MALLOC_ARENA_MAX=2", {"MALLOC_ARENA_MAX": "2"}),
    ("glibc", "glibc MALLOC_TRIM_THRESHOLD_=128KiB MALLOC_TOP_PAD_=0",
     {"MALLOC_TRIM_THRESHOLD_": "131072", "MALLOC_TOP_PAD_": "0"}),
    # jemalloc 5.3 (Debian's defaults: narenas 4 × cores, dirty_decay_ms 10000, muzzy_decay_ms 0,
    # background_thread false)
    ("jemalloc", "jemalloc narenas:1", {"MALLOC_CONF": "narenas:1"}),
    ("jemalloc", "jemalloc dirty_decay_ms:1000", {"MALLOC_CONF": "dirty_decay_ms:1000"}),
    ("jemalloc", "jemalloc dirty_decay_ms:0,muzzy_decay_ms:0", {"MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}),
    ("jemalloc", "jemalloc background_thread:true", {"MALLOC_CONF": "background_thread:true"}),
    # tcmalloc 2.10 (defaults: release rate 1, aggressive decommit off, 32 MiB of thread caches)
    ("tcmalloc", "tcmalloc RELEASE_RATE=0", {"TCMALLOC_RELEASE_RATE": "0"}),
    ("tcmalloc", "tcmalloc RELEASE_RATE=10", {"TCMALLOC_RELEASE_RATE": "10"}),
    ("tcmalloc", "tcmalloc AGGRESSIVE_DECOMMIT=true", {"TCMALLOC_AGGRESSIVE_DECOMMIT": "true"}),
    ("tcmalloc", "tcmalloc MAX_TOTAL_THREAD_CACHE_BYTES=4MiB", {"TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES": "4194304"}),
]


def selected(names):
    """The entries of the allocators in the comma-separated `names` ("all": every one), in
    TUNING's order; dies (ValueError) on a name that is no allocator."""
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    known = {allocator for allocator, _, _ in TUNING}
    if "all" in wanted:
        wanted = known
    unknown = wanted - known
    if unknown:
        raise ValueError(f"--tune: no such allocator {', '.join(sorted(unknown))} (choose from "
                         f"{', '.join(sorted(known))} or all)")
    return [entry for entry in TUNING if entry[0] in wanted]
