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
    // tcmalloc (gperftools, minimal or full) exports a C entry point for this.
    void (*release)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    if (release == NULL) return false;
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
size_t spindle_mimalloc_committed_bytes(void) { return 0; }
#endif
