// allocstats.so: an LD_PRELOAD helper for `make -C bench alloc` that counts a server's heap
// allocations and, on SIGUSR2, writes what the active allocator is and what it reports.
//
//   gcc -O2 -shared -fPIC -o allocstats.so allocstats.c -ldl -lpthread
//   ALLOCSTATS_OUT=/tmp/stats LD_PRELOAD=./allocstats.so[:libjemalloc.so.2] ./Hello ...
//   kill -USR2 PID; cat /tmp/stats        (rewritten atomically on every signal)
//
// Counting. malloc, calloc, realloc, free and the aligned variants are interposed and forwarded
// to the next definition in the search order (RTLD_NEXT): mimalloc when the server links it,
// jemalloc or tcmalloc when preloaded after this library, else glibc. Each call bumps plain
// per-thread counters (no atomics on the hot path); live bytes are tracked with the allocator's
// own malloc_usable_size of every block allocated and freed, so "live bytes" is the usable size
// of the blocks the program holds, whatever allocator serves them. The same work is done for
// every allocator, so its cost (two indirect calls per malloc/free) is in every variant alike.
//
// Identification (the file's `allocator=` line) does not trust the build or LD_PRELOAD: the
// library that the forwarded malloc lives in (dladdr), and, on every dump, a small and a large
// probe block allocated through it and asked about with the allocator's own ownership test
// (mimalloc mi_is_in_heap_region, jemalloc mallctl "arenas.lookup", tcmalloc
// MallocExtension_GetOwnership). The probes stay allocated until the next dump so the benchmark
// can find them in /proc/PID/maps. glibc has no ownership test: it is named only when malloc
// resolves into libc and none of the other allocators' symbols is present.
//
// Statistics from the allocator itself, where it keeps them: jemalloc stats.allocated /
// stats.resident (after an "epoch" refresh) and small+large nrequests; tcmalloc
// generic.current_allocated_bytes / generic.heap_size minus tcmalloc.pageheap_unmapped_bytes;
// glibc mallinfo2 (uordblks+hblkhd in use, arena+hblkhd held). Debian's mimalloc 2.0.9 is a
// release build that keeps no per-block statistics (MI_STAT 0): for it the live bytes above are
// the in-use figure.
//
// Settings (the `knobs=` line): the values the allocator actually runs with, read back from it,
// so a tuning variant shows whether its environment variable was honoured: mimalloc's options
// (mi_option_get; the names are those of the installed mimalloc.h, 2.0.9 here), jemalloc's
// opt.narenas, opt.dirty_decay_ms, opt.muzzy_decay_ms, opt.background_thread and the live
// background_thread, tcmalloc's release rate (its flag variable), tcmalloc.aggressive_memory_decommit and
// tcmalloc.max_total_thread_cache_bytes. glibc has
// no getter for its malloc parameters: nothing is printed for it.
//
// The dump runs on a thread of its own that waits in sigwait(): SIGUSR2 is blocked in the
// thread that loads this library (before main), so every thread the program starts inherits
// the block and the signal always reaches the dump thread. Without ALLOCSTATS_OUT nothing but
// the counting happens.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------- the forwarded functions

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    size_t (*usable)(void *);
} next;

// dlsym may allocate (calloc) before `next` is filled: those requests come from this buffer
// and are never freed.
static char bootstrap[16 << 10] __attribute__((aligned(16)));
static size_t bootstrap_used;
static bool resolving;

static void *bootstrap_alloc(size_t n) {
    size_t start = (bootstrap_used + 15) & ~(size_t)15;
    if (start + n > sizeof bootstrap) return NULL;
    bootstrap_used = start + n;
    return bootstrap + start;
}

static bool from_bootstrap(const void *p) {
    return (const char *)p >= bootstrap && (const char *)p < bootstrap + sizeof bootstrap;
}

static void resolve(void) {
    resolving = true;
    next.malloc = dlsym(RTLD_NEXT, "malloc");
    next.free = dlsym(RTLD_NEXT, "free");
    next.calloc = dlsym(RTLD_NEXT, "calloc");
    next.realloc = dlsym(RTLD_NEXT, "realloc");
    next.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    next.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    next.memalign = dlsym(RTLD_NEXT, "memalign");
    next.usable = dlsym(RTLD_NEXT, "malloc_usable_size");
    resolving = false;
    if (!next.malloc || !next.free || !next.calloc || !next.realloc || !next.posix_memalign || !next.usable) {
        static const char message[] = "allocstats: cannot find the next malloc/free/calloc/realloc/posix_memalign/"
                                      "malloc_usable_size (RTLD_NEXT)\n";
        write(2, message, sizeof message - 1);
        _exit(127);
    }
}

// ---------------------------------------------------------------- per-thread counters

struct slot {
    uint64_t allocations;  // malloc, calloc, the aligned variants, realloc(NULL, n)
    uint64_t frees;        // free of a non-NULL pointer, realloc(p, 0) that freed
    uint64_t reallocs;     // realloc of a live block
    uint64_t requested;    // bytes asked for by allocations and reallocs
    int64_t live;          // usable bytes allocated minus freed (a block freed on another thread
                           // makes one slot negative; only the sum means something)
} __attribute__((aligned(64)));

#define SLOTS 512  // threads; a process with more shares the last slot (counts may then race)
static struct slot slots[SLOTS];
static unsigned slots_claimed;
static __thread struct slot *this_slot __attribute__((tls_model("initial-exec")));

static inline struct slot *slot(void) {
    struct slot *s = this_slot;
    if (__builtin_expect(s == NULL, 0)) {
        unsigned i = __atomic_fetch_add(&slots_claimed, 1, __ATOMIC_RELAXED);
        s = &slots[i < SLOTS ? i : SLOTS - 1];
        this_slot = s;
    }
    return s;
}

static inline void *counted(void *p, size_t requested) {
    if (p) {
        struct slot *s = slot();
        s->allocations++;
        s->requested += requested;
        s->live += (int64_t)next.usable(p);
    }
    return p;
}

static inline void uncount(void *p) {
    struct slot *s = slot();
    s->frees++;
    s->live -= (int64_t)next.usable(p);
}

// ---------------------------------------------------------------- interposed API

void *malloc(size_t n) {
    if (__builtin_expect(next.malloc == NULL, 0)) {
        if (resolving) return bootstrap_alloc(n);
        resolve();
    }
    return counted(next.malloc(n), n);
}

void *calloc(size_t count, size_t size) {
    if (__builtin_expect(next.calloc == NULL, 0)) {
        if (resolving) return bootstrap_alloc(count * size);  // static memory is zeroed
        resolve();
    }
    return counted(next.calloc(count, size), count * size);
}

void free(void *p) {
    if (p == NULL || from_bootstrap(p)) return;
    uncount(p);
    next.free(p);
}

void *realloc(void *p, size_t n) {
    if (__builtin_expect(next.realloc == NULL, 0)) resolve();
    if (p == NULL) return malloc(n);
    if (from_bootstrap(p)) {
        void *q = malloc(n);
        size_t room = (size_t)(bootstrap + sizeof bootstrap - (char *)p);
        if (q) memcpy(q, p, n < room ? n : room);
        return q;
    }
    size_t old = next.usable(p);
    void *q = next.realloc(p, n);
    struct slot *s = slot();
    if (q) {
        s->reallocs++;
        s->requested += n;
        s->live += (int64_t)next.usable(q) - (int64_t)old;
    } else if (n == 0) {  // glibc frees on realloc(p, 0) and returns NULL
        s->frees++;
        s->live -= (int64_t)old;
    }
    return q;
}

int posix_memalign(void **out, size_t alignment, size_t n) {
    if (__builtin_expect(next.posix_memalign == NULL, 0)) resolve();
    int r = next.posix_memalign(out, alignment, n);
    if (r == 0) counted(*out, n);
    return r;
}

void *aligned_alloc(size_t alignment, size_t n) {
    if (__builtin_expect(next.posix_memalign == NULL, 0)) resolve();
    if (next.aligned_alloc) return counted(next.aligned_alloc(alignment, n), n);
    void *p = NULL;
    return posix_memalign(&p, alignment, n) == 0 ? p : NULL;
}

void *memalign(size_t alignment, size_t n) {
    if (__builtin_expect(next.posix_memalign == NULL, 0)) resolve();
    if (next.memalign) return counted(next.memalign(alignment, n), n);
    void *p = NULL;
    return posix_memalign(&p, alignment, n) == 0 ? p : NULL;
}

void *valloc(size_t n) { return memalign((size_t)sysconf(_SC_PAGESIZE), n); }

void *pvalloc(size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return memalign(page, (n + page - 1) & ~(page - 1));
}

// ---------------------------------------------------------------- which allocator, and its numbers

#define PROBE_SMALL 64
#define PROBE_LARGE (256 << 10)  // above glibc's mmap threshold: glibc maps it on its own

static void *probe_small, *probe_large;

static const char *library_of(void *function) {
    Dl_info info;
    return function && dladdr(function, &info) && info.dli_fname ? info.dli_fname : "?";
}

static const char *allocator_name(const char *library) {
    if (strstr(library, "mimalloc")) return "mimalloc";
    if (strstr(library, "jemalloc")) return "jemalloc";
    if (strstr(library, "tcmalloc")) return "tcmalloc";
    if (strstr(library, "libc.so")) return "glibc";
    return "unknown";
}

struct report {
    char text[4096];
    size_t used;
};

static void put(struct report *r, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void put(struct report *r, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(r->text + r->used, sizeof r->text - r->used, format, ap);
    va_end(ap);
    if (n > 0) r->used = r->used + (size_t)n < sizeof r->text ? r->used + (size_t)n : sizeof r->text - 1;
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static uint64_t jemalloc_u64(mallctl_fn mallctl, const char *name) {
    uint64_t v = 0;
    size_t size = sizeof v;
    return mallctl(name, &v, &size, NULL, 0) == 0 ? v : 0;
}

static size_t jemalloc_size(mallctl_fn mallctl, const char *name) {
    size_t v = 0, size = sizeof v;
    return mallctl(name, &v, &size, NULL, 0) == 0 ? v : 0;
}

static bool jemalloc_owns(mallctl_fn mallctl, void *p) {
    unsigned arena = 0;
    size_t size = sizeof arena;
    return mallctl("arenas.lookup", &arena, &size, &p, sizeof p) == 0;
}

struct allocator_api {
    bool (*mi_owns)(const void *);
    mallctl_fn mallctl;
    int (*tc_ownership)(const void *);
    int (*tc_property)(const char *, size_t *);
    struct mallinfo2 (*mallinfo2)(void);
};

#if __has_include(<mimalloc.h>)
#include <mimalloc.h>
#define ALLOCSTATS_MI_OPTIONS 1
#endif

// The settings the allocator runs with, as it reports them (see the header).
static void allocator_knobs(struct report *r, const char *allocator, struct allocator_api api) {
    put(r, "knobs=");
    if (strcmp(allocator, "mimalloc") == 0) {
#ifdef ALLOCSTATS_MI_OPTIONS
        long (*get)(mi_option_t) = (long (*)(mi_option_t))dlsym(RTLD_DEFAULT, "mi_option_get");
        if (get) {
            static const struct { const char *name; mi_option_t option; } options[] = {
                {"eager_commit", mi_option_eager_commit}, {"eager_commit_delay", mi_option_eager_commit_delay},
                {"reserve_os_memory", mi_option_reserve_os_memory}, {"page_reset", mi_option_page_reset},
                {"abandoned_page_decommit", mi_option_abandoned_page_decommit},
                {"allow_decommit", mi_option_allow_decommit}, {"decommit_delay", mi_option_decommit_delay},
                {"segment_decommit_delay", mi_option_segment_decommit_delay},
                {"decommit_extend_delay", mi_option_decommit_extend_delay},
            };
            for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
                put(r, "%s%s:%ld", i ? "," : "", options[i].name, get(options[i].option));
        }
#endif
    } else if (strcmp(allocator, "jemalloc") == 0 && api.mallctl) {
        unsigned narenas = 0;
        ssize_t dirty = 0, muzzy = 0;
        bool opt_bg = false, bg = false;
        size_t size = sizeof narenas;
        api.mallctl("opt.narenas", &narenas, &size, NULL, 0);
        size = sizeof dirty;
        api.mallctl("opt.dirty_decay_ms", &dirty, &size, NULL, 0);
        size = sizeof muzzy;
        api.mallctl("opt.muzzy_decay_ms", &muzzy, &size, NULL, 0);
        size = sizeof opt_bg;
        api.mallctl("opt.background_thread", &opt_bg, &size, NULL, 0);
        size = sizeof bg;
        api.mallctl("background_thread", &bg, &size, NULL, 0);
        put(r, "narenas:%u,dirty_decay_ms:%zd,muzzy_decay_ms:%zd,opt.background_thread:%d,background_thread:%d",
            narenas, dirty, muzzy, opt_bg, bg);
    } else if (strcmp(allocator, "tcmalloc") == 0 && api.tc_property) {
        // gperftools exports no C getter for the release rate: its flag variable (TCMALLOC_RELEASE_RATE).
        const double *rate = dlsym(RTLD_DEFAULT,
            "_ZN62FLAG__namespace_do_not_use_directly_use_DECLARE_double_instead27FLAGS_tcmalloc_release_rateE");
        size_t cache = 0;
        api.tc_property("tcmalloc.max_total_thread_cache_bytes", &cache);
        size_t aggressive = 0;
        int known = api.tc_property("tcmalloc.aggressive_memory_decommit", &aggressive);
        put(r, "release_rate:%g,aggressive_memory_decommit:%s,max_total_thread_cache_bytes:%zu", rate ? *rate : -1.0,
            known ? (aggressive ? "1" : "0") : "?", cache);
    }
    put(r, "\n");
}

static struct allocator_api allocator_api(void) {
    return (struct allocator_api){
        .mi_owns = dlsym(RTLD_DEFAULT, "mi_is_in_heap_region"),
        .mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl"),
        .tc_ownership = dlsym(RTLD_DEFAULT, "MallocExtension_GetOwnership"),
        .tc_property = dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"),
        .mallinfo2 = dlsym(RTLD_DEFAULT, "mallinfo2"),
    };
}

// What the allocator itself says is in use and held (resident or mapped for it).
static void allocator_statistics(struct report *r, const char *allocator, struct allocator_api api) {
    if (strcmp(allocator, "mimalloc") == 0) {
        put(r, "own_stats=none (mimalloc release build: MI_STAT 0)\n");
    } else if (strcmp(allocator, "jemalloc") == 0 && api.mallctl) {
        uint64_t epoch = 1;
        size_t size = sizeof epoch;
        api.mallctl("epoch", &epoch, &size, &epoch, size);  // refresh the statistics snapshot
        put(r, "own_stats=jemalloc stats.allocated / stats.resident\n");
        put(r, "own_in_use=%zu\nown_held=%zu\n", jemalloc_size(api.mallctl, "stats.allocated"),
            jemalloc_size(api.mallctl, "stats.resident"));
        put(r, "own_active=%zu\nown_mapped=%zu\n", jemalloc_size(api.mallctl, "stats.active"),
            jemalloc_size(api.mallctl, "stats.mapped"));
        // MALLCTL_ARENAS_ALL = 4096: the sum over arenas. Thread caches merge their request
        // counts into the arenas only when they flush, so this lags the interposed count.
        put(r, "own_requests=%llu\n",
            (unsigned long long)(jemalloc_u64(api.mallctl, "stats.arenas.4096.small.nrequests")
                                 + jemalloc_u64(api.mallctl, "stats.arenas.4096.large.nrequests")));
    } else if (strcmp(allocator, "tcmalloc") == 0 && api.tc_property) {
        size_t in_use = 0, heap = 0, unmapped = 0;
        api.tc_property("generic.current_allocated_bytes", &in_use);
        api.tc_property("generic.heap_size", &heap);
        api.tc_property("tcmalloc.pageheap_unmapped_bytes", &unmapped);
        put(r, "own_stats=tcmalloc generic.current_allocated_bytes / generic.heap_size - tcmalloc.pageheap_unmapped_bytes\n");
        put(r, "own_in_use=%zu\nown_held=%zu\n", in_use, heap - unmapped);
    } else if (strcmp(allocator, "glibc") == 0 && api.mallinfo2) {
        struct mallinfo2 m = api.mallinfo2();
        put(r, "own_stats=glibc mallinfo2 uordblks+hblkhd / arena+hblkhd\n");
        put(r, "own_in_use=%zu\nown_held=%zu\n", m.uordblks + m.hblkhd, m.arena + m.hblkhd);
    }
}

// Whether the probe blocks belong to the allocator, by its own test.
static void allocator_ownership(struct report *r, const char *allocator, struct allocator_api api) {
    put(r, "symbols_present=%s%s%s\n", api.mi_owns ? "mimalloc " : "", api.mallctl ? "jemalloc " : "",
        api.tc_ownership ? "tcmalloc" : "");
    if (strcmp(allocator, "mimalloc") == 0 && api.mi_owns) {
        put(r, "owner_test=mi_is_in_heap_region\nowned_small=%d\nowned_large=%d\n",
            api.mi_owns(probe_small), api.mi_owns(probe_large));
    } else if (strcmp(allocator, "jemalloc") == 0 && api.mallctl) {
        put(r, "owner_test=mallctl arenas.lookup\nowned_small=%d\nowned_large=%d\n",
            jemalloc_owns(api.mallctl, probe_small), jemalloc_owns(api.mallctl, probe_large));
    } else if (strcmp(allocator, "tcmalloc") == 0 && api.tc_ownership) {
        put(r, "owner_test=MallocExtension_GetOwnership\nowned_small=%d\nowned_large=%d\n",
            api.tc_ownership(probe_small) == 1, api.tc_ownership(probe_large) == 1);  // 1 = kOwned
    } else if (strcmp(allocator, "glibc") == 0) {
        put(r, "owner_test=none (glibc has none: named by where malloc resolves and the absence of the others)\n");
    }
}

static char out_path[4096];
static unsigned long dumps;

static void dump(void) {
    // The probes are the benchmark's own traffic: not counted, and freed before the statistics.
    if (probe_small) next.free(probe_small);
    if (probe_large) next.free(probe_large);
    static struct report r;
    r.used = 0;
    uint64_t allocations = 0, frees = 0, reallocs = 0, requested = 0;
    int64_t live = 0;
    for (unsigned i = 0; i < SLOTS; i++) {
        allocations += __atomic_load_n(&slots[i].allocations, __ATOMIC_RELAXED);
        frees += __atomic_load_n(&slots[i].frees, __ATOMIC_RELAXED);
        reallocs += __atomic_load_n(&slots[i].reallocs, __ATOMIC_RELAXED);
        requested += __atomic_load_n(&slots[i].requested, __ATOMIC_RELAXED);
        live += __atomic_load_n(&slots[i].live, __ATOMIC_RELAXED);
    }
    const char *library = library_of((void *)next.malloc);
    const char *allocator = allocator_name(library);
    put(&r, "seq=%lu\npid=%d\n", ++dumps, (int)getpid());
    put(&r, "allocations=%llu\nfrees=%llu\nreallocs=%llu\nrequested_bytes=%llu\nlive_bytes=%lld\n",
        (unsigned long long)allocations, (unsigned long long)frees, (unsigned long long)reallocs,
        (unsigned long long)requested, (long long)live);
    put(&r, "threads_counted=%u\n", __atomic_load_n(&slots_claimed, __ATOMIC_RELAXED));
    put(&r, "malloc_from=%s\nusable_from=%s\nallocator=%s\n", library, library_of((void *)next.usable), allocator);
    struct allocator_api api = allocator_api();
    allocator_statistics(&r, allocator, api);
    probe_small = next.malloc(PROBE_SMALL);
    probe_large = next.malloc(PROBE_LARGE);
    if (probe_large) memset(probe_large, 1, PROBE_LARGE);  // resident, so it shows in the maps
    put(&r, "probe_small=%p\nprobe_large=%p\n", probe_small, probe_large);
    allocator_ownership(&r, allocator, api);
    allocator_knobs(&r, allocator, api);

    char tmp[sizeof out_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t written = write(fd, r.text, r.used);
    close(fd);
    if (written == (ssize_t)r.used) rename(tmp, out_path);
}

static void *dump_thread(void *unused) {
    (void)unused;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    for (;;) {
        int signal = 0;
        if (sigwait(&set, &signal) == 0 && signal == SIGUSR2) dump();
    }
    return NULL;
}

__attribute__((constructor)) static void start(void) {
    if (next.malloc == NULL) resolve();
    const char *out = getenv("ALLOCSTATS_OUT");
    if (out == NULL || *out == 0 || strlen(out) >= sizeof out_path) return;
    strcpy(out_path, out);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t thread;
    if (pthread_create(&thread, NULL, dump_thread, NULL) == 0) {
        pthread_setname_np(thread, "allocstats");
        pthread_detach(thread);
    }
}
