// Allocator introspection. With the `Mimalloc` trait, libmimalloc is linked and overrides
// malloc/free for the whole process (Swift objects included).
#define _GNU_SOURCE
#include "spindle_alloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// jemalloc's control interface, looked up at run time: present only when jemalloc was
// preloaded (Spindle never links it).
typedef int (*spindle_mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static spindle_mallctl_fn spindle_mallctl(void) {
    static spindle_mallctl_fn fn = NULL;
    static int looked = 0;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        fn = (spindle_mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    return fn;
}

bool spindle_jemalloc_present(void) { return spindle_mallctl() != NULL; }

bool spindle_jemalloc_statistics(size_t *allocated, size_t *resident) {
    spindle_mallctl_fn mallctl = spindle_mallctl();
    if (mallctl == NULL) return false;
    uint64_t epoch = 1;
    size_t epoch_size = sizeof(epoch);
    mallctl("epoch", &epoch, &epoch_size, &epoch, epoch_size);
    size_t size = sizeof(size_t);
    if (mallctl("stats.allocated", allocated, &size, NULL, 0) != 0) return false;
    size = sizeof(size_t);
    if (mallctl("stats.resident", resident, &size, NULL, 0) != 0) return false;
    return true;
}

const char *spindle_jemalloc_version(void) {
    spindle_mallctl_fn mallctl = spindle_mallctl();
    const char *version = NULL;
    size_t size = sizeof(version);
    if (mallctl == NULL || mallctl("version", &version, &size, NULL, 0) != 0) return NULL;
    return version;
}

bool spindle_jemalloc_profiling(void) {
    spindle_mallctl_fn mallctl = spindle_mallctl();
    bool enabled = false, active = false;
    size_t size = sizeof(bool);
    if (mallctl == NULL || mallctl("opt.prof", &enabled, &size, NULL, 0) != 0 || !enabled) return false;
    size = sizeof(bool);
    if (mallctl("prof.active", &active, &size, NULL, 0) != 0) return false;
    return active;
}

int spindle_jemalloc_dump_profile(const char *path) {
    spindle_mallctl_fn mallctl = spindle_mallctl();
    if (mallctl == NULL || !spindle_jemalloc_profiling()) return ENOTSUP;
    return mallctl("prof.dump", NULL, NULL, (void *)&path, sizeof(path));
}

int spindle_jemalloc_purge(void) {
    spindle_mallctl_fn mallctl = spindle_mallctl();
    if (mallctl == NULL) return ENOTSUP;
    return mallctl("arena.4096.purge", NULL, NULL, NULL, 0);  // 4096: MALLCTL_ARENAS_ALL
}

bool spindle_tcmalloc_release_free_memory(void) {
    // tcmalloc (gperftools, minimal or full) exports C entry points for this. The release returns
    // the page heap's free spans only; the small objects a spike left in the calling thread's
    // cache (up to 32 MiB across threads by default) first go back to the central lists, whose
    // wholly free spans then reach the page heap. The cache is rebuilt on the next allocation.
    void (*release)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    if (release == NULL) return false;
    void (*mark_idle)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "MallocExtension_MarkThreadIdle");
    if (mark_idle != NULL) mark_idle();
    release();
    return true;
}

void spindle_glibc_malloc_trim(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

bool spindle_glibc_counts_an_allocation(void) {
#ifdef __GLIBC__
    // The probe goes through a volatile pointer and is written to: a malloc whose result is
    // only freed may be removed by the optimizer (it was, in Swift release builds), and then
    // nothing shows in the counters and glibc is never recognised.
    const size_t probe_bytes = 256 << 10;
    size_t before = spindle_glibc_malloc_bytes_in_use();
    char *volatile probe = malloc(probe_bytes);
    if (probe == NULL) return false;
    probe[0] = 1;
    size_t after = spindle_glibc_malloc_bytes_in_use();
    free(probe);
    return after - before >= probe_bytes / 2;
#else
    return false;
#endif
}

size_t spindle_glibc_malloc_bytes_in_use(void) {
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#elif defined(__GLIBC__)
    struct mallinfo info = mallinfo();  // int fields: wrap past 2 GiB (glibc before 2.33 has no mallinfo2)
    return (size_t)(unsigned)info.uordblks + (size_t)(unsigned)info.hblkhd;
#else
    return 0;
#endif
}

#ifdef SPINDLE_MIMALLOC
#include <mimalloc.h>

bool spindle_mimalloc_linked(void) { return true; }
bool spindle_mimalloc_owns(const void *p) { return mi_is_in_heap_region(p); }
int spindle_mimalloc_version(void) { return mi_version(); }
void spindle_mimalloc_print_stats(void) { mi_stats_print_out(NULL, NULL); }
void spindle_mimalloc_collect(void) { mi_collect(true); }

// mimalloc 2.0 calls the delay "decommit_delay", 2.1 "purge_delay" (the same option).
#if MI_MALLOC_VERSION >= 210
#define SPINDLE_MI_PURGE_DELAY mi_option_purge_delay
#else
#define SPINDLE_MI_PURGE_DELAY mi_option_decommit_delay
#endif

bool spindle_mimalloc_decommit_at_once(void) {
    // A free span of a segment still in use is decommitted only when the delay has passed *and*
    // a later page allocation in that same segment looks at it; mi_collect does not. After a
    // spike, on a quiet server, nothing allocates there again: the memory stays resident for
    // good. With no delay the span is decommitted (MADV_DONTNEED) when it is freed. A delay the
    // user chose through the environment is kept.
    if (getenv("MIMALLOC_DECOMMIT_DELAY") != NULL || getenv("MIMALLOC_PURGE_DELAY") != NULL) return false;
    mi_option_set(SPINDLE_MI_PURGE_DELAY, 0);
    return true;
}
long spindle_mimalloc_decommit_delay(void) { return mi_option_get(SPINDLE_MI_PURGE_DELAY); }

long spindle_mimalloc_begin_release(void) {
    // While the delay is 0, a span freed (a page emptied by a free or by mi_collect) is
    // decommitted at once together with the free spans it coalesces with, including those only
    // marked under the delay. The option is process-wide: frees on other threads in this window
    // decommit at once too, which costs them time, never correctness.
    long delay = mi_option_get(SPINDLE_MI_PURGE_DELAY);
    if (delay != 0) mi_option_set(SPINDLE_MI_PURGE_DELAY, 0);
    return delay;
}
void spindle_mimalloc_end_release(long delay) {
    if (delay != 0) mi_option_set(SPINDLE_MI_PURGE_DELAY, delay);
}

// The sweep below relies on two facts of mimalloc 2.0 and 2.1 that its header does not state:
// segments are MI_SEGMENT_SIZE (32 MiB) aligned, and a page allocated in a segment applies that
// segment's expired decommit marks (mi_segments_page_alloc → mi_segment_delayed_decommit). If
// either changes, the sweep only visits fewer segments or stops later: it never frees or
// touches anything it did not allocate itself.
#define SPINDLE_MI_SEGMENT_SIZE ((uintptr_t)32 << 20)
#define SPINDLE_SWEEP_BLOCK ((size_t)200 << 10)  // a large object: a page of its own, 4 slices
#define SPINDLE_SWEEP_MAX 8192                   // at most ~2 GiB of free spans per sweep
#define SPINDLE_SWEEP_SEGMENTS 4096

typedef struct {
    uintptr_t *bases;
    size_t count;
} spindle_segment_set;

static bool spindle_segment_set_has(const spindle_segment_set *set, uintptr_t base) {
    for (size_t i = 0; i < set->count; i++) if (set->bases[i] == base) return true;
    return false;
}

static bool spindle_note_segment(const mi_heap_t *heap, const mi_heap_area_t *area, void *block, size_t size, void *arg) {
    (void)heap; (void)block; (void)size;
    spindle_segment_set *set = arg;
    uintptr_t base = (uintptr_t)area->blocks & ~(SPINDLE_MI_SEGMENT_SIZE - 1);
    if (!spindle_segment_set_has(set, base) && set->count < SPINDLE_SWEEP_SEGMENTS) set->bases[set->count++] = base;
    return true;
}

size_t spindle_mimalloc_sweep(void) {
    // Called inside a release window (delay 0). A span freed under the delay in a segment that
    // keeps live blocks is only marked; the mark is acted on when a page is next allocated in
    // that segment. So: note the segments the calling thread's heap has pages in, then take
    // large blocks (each a fresh page from the free spans, best fit) until one lands outside
    // them — every free span of 4 slices or more has then been visited — and free them all,
    // which with the delay at 0 decommits their spans and the free spans they coalesce with.
    // Touches one OS page per block taken; runs only after a trim dropped something.
    uintptr_t *bases = malloc(SPINDLE_SWEEP_SEGMENTS * sizeof(uintptr_t));
    void **held = malloc(SPINDLE_SWEEP_MAX * sizeof(void *));
    size_t taken = 0;
    if (bases != NULL && held != NULL) {
        spindle_segment_set set = {bases, 0};
        mi_heap_visit_blocks(mi_heap_get_default(), false, spindle_note_segment, &set);
        while (taken < SPINDLE_SWEEP_MAX) {
            void *block = mi_malloc(SPINDLE_SWEEP_BLOCK);
            if (block == NULL) break;
            held[taken++] = block;
            if (!spindle_segment_set_has(&set, (uintptr_t)block & ~(SPINDLE_MI_SEGMENT_SIZE - 1))) break;
        }
        for (size_t i = 0; i < taken; i++) mi_free(held[i]);
        mi_collect(true);
    }
    free(held);
    free(bases);
    return taken;
}
size_t spindle_mimalloc_committed_bytes(void) {
    size_t elapsed, user, system, rss, peak_rss, commit = 0, peak_commit, faults;
    mi_process_info(&elapsed, &user, &system, &rss, &peak_rss, &commit, &peak_commit, &faults);
    return commit;
}
#else
bool spindle_mimalloc_linked(void) { return false; }
bool spindle_mimalloc_owns(const void *p) { (void)p; return false; }
int spindle_mimalloc_version(void) { return 0; }
void spindle_mimalloc_print_stats(void) {}
void spindle_mimalloc_collect(void) {}
bool spindle_mimalloc_decommit_at_once(void) { return false; }
long spindle_mimalloc_decommit_delay(void) { return -1; }
long spindle_mimalloc_begin_release(void) { return 0; }
void spindle_mimalloc_end_release(long delay) { (void)delay; }
size_t spindle_mimalloc_sweep(void) { return 0; }
size_t spindle_mimalloc_committed_bytes(void) { return 0; }
#endif
