// Which allocator serves malloc in this process, and its statistics.
#ifndef SPINDLE_ALLOC_H
#define SPINDLE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/// True when Spindle was built with mimalloc linked (the `Mimalloc` package trait).
bool spindle_mimalloc_linked(void);

/// True when `p` (from malloc) lies in mimalloc's heap: proves malloc is really mimalloc.
/// Always false when mimalloc is not linked.
bool spindle_mimalloc_owns(const void *p);

/// mimalloc's version (e.g. 209 for 2.0.9), or 0 when not linked.
int spindle_mimalloc_version(void);

/// Prints mimalloc's statistics to stderr (no-op without mimalloc).
void spindle_mimalloc_print_stats(void);

/// mimalloc: frees what the calling thread's heap holds unused and returns it to the OS
/// (`mi_collect(true)`). No-op when not linked.
void spindle_mimalloc_collect(void);

/// Sets mimalloc's decommit (2.1: purge) delay to 0, so free spans go back to the OS when freed,
/// unless MIMALLOC_DECOMMIT_DELAY or MIMALLOC_PURGE_DELAY is set; true when it set it.
bool spindle_mimalloc_decommit_at_once(void);

/// mimalloc's decommit (purge) delay in ms; -1 without mimalloc.
long spindle_mimalloc_decommit_delay(void);

/// jemalloc: purges the unused dirty pages of every arena (`arena.<all>.purge`). Returns 0, or
/// ENOTSUP without jemalloc.
int spindle_jemalloc_purge(void);

/// tcmalloc, when preloaded: hands the calling thread's cache back (`MallocExtension_MarkThreadIdle`)
/// and returns its free pages to the OS (`MallocExtension_ReleaseFreeMemory`), both looked up
/// at run time. False without tcmalloc.
bool spindle_tcmalloc_release_free_memory(void);

/// glibc: `malloc_trim(0)`, giving free memory at the top of the heap and in free chunks back.
void spindle_glibc_malloc_trim(void);

/// True when a 256 KiB malloc shows up in glibc's counters (`mallinfo2`): glibc's malloc serves
/// the process. The probe cannot be optimised away.
bool spindle_glibc_counts_an_allocation(void);

/// Sets mimalloc's decommit (2.1: purge) delay to 0 for a release window and returns the delay
/// to restore with `spindle_mimalloc_end_release` (0 when nothing changed). No-op without mimalloc.
long spindle_mimalloc_begin_release(void);
void spindle_mimalloc_end_release(long delay);

/// Inside a release window: visits the free spans of the calling thread's mimalloc segments by
/// allocating large blocks until one lands in a fresh segment, then frees them, so that spans
/// the delay only marked are decommitted. Returns the blocks taken. 0 without mimalloc.
size_t spindle_mimalloc_sweep(void);

/// Bytes mimalloc has committed from the operating system now (`mi_process_info`'s
/// current_commit), or 0 when not linked. mimalloc as Debian builds it (2.0.9, no MI_STAT)
/// does not count the bytes in use by the program, only what it holds from the OS.
size_t spindle_mimalloc_committed_bytes(void);

/// Bytes glibc's malloc has handed out and not had back (`mallinfo2`: `uordblks` in its arenas
/// plus `hblkhd` in mmapped chunks); 0 without glibc. Only glibc's own allocations: meaningless
/// when another malloc serves the process. Locks each arena in turn.
size_t spindle_glibc_malloc_bytes_in_use(void);

/// jemalloc, when it serves malloc (preloaded with `LD_PRELOAD`): found at run time through
/// `dlsym(RTLD_DEFAULT, "mallctl")`, so nothing links it. False when it does not.
bool spindle_jemalloc_present(void);

/// jemalloc's counters, refreshed first (`epoch`): `stats.allocated` (bytes the program holds)
/// and `stats.resident` (bytes of jemalloc's pages resident). Returns false without jemalloc
/// (or a jemalloc built without statistics).
bool spindle_jemalloc_statistics(size_t *allocated, size_t *resident);

/// jemalloc's version string, or NULL.
const char *spindle_jemalloc_version(void);

/// True when jemalloc samples allocations for heap profiles (`opt.prof` and `prof.active`:
/// started with `MALLOC_CONF=prof:true`).
bool spindle_jemalloc_profiling(void);

/// Writes a heap profile to `path` (`prof.dump`). Returns 0, or an errno-like code: ENOTSUP
/// without jemalloc profiling, else what `mallctl` returned.
int spindle_jemalloc_dump_profile(const char *path);

#endif
