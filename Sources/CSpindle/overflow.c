// Stack-overflow reporting: a SIGSEGV/SIGBUS handler that recognises faults in the guard area of
// a registered fiber stack and says so in words before aborting.
//
// Invariants:
// - Runs on the alternate signal stack installed per thread by spindle_thread_install_altstack.
// - Only async-signal-safe calls inside the handler (write, sigaction, abort); no malloc, no stdio.
// - The registry is append-mostly; entries are published with release stores and read with
//   acquire loads, so the handler never sees a half-written entry.
#define _GNU_SOURCE
#include "spindle_overflow.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SPINDLE_MAX_REGIONS 1024
#define SPINDLE_ALTSTACK_SIZE (64 * 1024)

typedef struct {
    uintptr_t base;
    size_t slot_size;
    size_t guard_size;
    size_t usable_size;
    size_t count;
    const volatile uint64_t *fiber_ids;
    _Atomic int live;
} spindle_region_t;

static spindle_region_t regions[SPINDLE_MAX_REGIONS];
static _Atomic int region_high_water = 0;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sigaction previous_segv;
static struct sigaction previous_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static pthread_key_t altstack_key;

// MARK: - async-signal-safe formatting

static void put(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w < 0) { if (errno == EINTR) continue; return; }
        s += w; n -= (size_t)w;
    }
}

static void put_uint(uint64_t v) {
    char buf[24];
    int i = (int)sizeof(buf) - 1;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v && i > 0);
    put(&buf[i]);
}

static void put_hex(uint64_t v) {
    char buf[20];
    int i = (int)sizeof(buf) - 1;
    buf[i] = 0;
    do { buf[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v && i > 2);
    buf[--i] = 'x'; buf[--i] = '0';
    put(&buf[i]);
}

static void put_size(size_t bytes) {
    if (bytes % (1024 * 1024) == 0) { put_uint(bytes / (1024 * 1024)); put(" MiB"); }
    else if (bytes % 1024 == 0) { put_uint(bytes / 1024); put(" KiB"); }
    else { put_uint(bytes); put(" bytes"); }
}

static void report(uint64_t fiber_id, size_t usable, const char *how, uintptr_t fault) {
    put("\nSpindle: stack overflow in fiber #");
    put_uint(fiber_id);
    put(" (scheduler ");
    put_uint(fiber_id >> 40);
    put(", fiber ");
    put_uint(fiber_id & ((1ULL << 40) - 1));
    put("; stack size ");
    put_size(usable);
    put("; ");
    put(how);
    if (fault) { put(" at "); put_hex(fault); }
    put(").\n");
    put("  Raise the fiber stack size with the environment variable SPINDLE_STACK_SIZE=<bytes>\n"
        "  (e.g. SPINDLE_STACK_SIZE=1048576) or StackPool.Configuration.stackSize, or move deep\n"
        "  recursion and large local buffers off the fiber stack.\n");
}

_Noreturn void spindle_overflow_report(uint64_t fiber_id, size_t usable_size, const char *how) {
    report(fiber_id, usable_size, how, 0);
    abort();
}

// MARK: - lookup

const volatile uint64_t *spindle_stack_side_words(uintptr_t addr) {
    int high = atomic_load_explicit(&region_high_water, memory_order_acquire);
    for (int i = 0; i < high; i++) {
        spindle_region_t *r = &regions[i];
        if (!atomic_load_explicit(&r->live, memory_order_acquire)) continue;
        if (addr < r->base || addr >= r->base + r->slot_size * r->count) continue;
        size_t slot = (addr - r->base) / r->slot_size;
        return r->fiber_ids + SPINDLE_SIDE_TABLE_WORDS * slot;
    }
    return NULL;
}

#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("address")))
#endif
uintptr_t spindle_stack_lowest_nonzero(uintptr_t low, uintptr_t high) {
    for (uintptr_t word = (low + 7) & ~(uintptr_t)7; word + 8 <= high; word += 8) {
        if (*(const volatile uint64_t *)word != 0) return word;
    }
    return 0;
}

// MARK: - handler

static void restore_and_return(int sig) {
    // Not ours: reinstate the previous disposition; the faulting instruction re-executes and
    // the previous handler (or the default action) takes it.
    sigaction(sig, sig == SIGBUS ? &previous_bus : &previous_segv, NULL);
}

static void on_fault(int sig, siginfo_t *info, void *uctx) {
    (void)uctx;
    uintptr_t addr = (uintptr_t)info->si_addr;
    int high = atomic_load_explicit(&region_high_water, memory_order_acquire);
    for (int i = 0; i < high; i++) {
        spindle_region_t *r = &regions[i];
        if (!atomic_load_explicit(&r->live, memory_order_acquire)) continue;
        if (addr < r->base || addr >= r->base + r->slot_size * r->count) continue;
        size_t offset = (addr - r->base) % r->slot_size;
        size_t slot = (addr - r->base) / r->slot_size;
        if (offset < r->guard_size) {
            report(r->fiber_ids[SPINDLE_SIDE_TABLE_WORDS * slot + SPINDLE_SIDE_TABLE_OWNER], r->usable_size, "hit the guard page", addr);
            signal(SIGABRT, SIG_DFL);
            abort();
        }
    }
    restore_and_return(sig);
}

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
}

static void release_altstack(void *mem) {
    stack_t ss = { .ss_flags = SS_DISABLE };
    sigaltstack(&ss, NULL);
    munmap(mem, SPINDLE_ALTSTACK_SIZE);
}

static void make_key(void) {
    pthread_key_create(&altstack_key, release_altstack);
    install_handler();
}

void spindle_overflow_handler_install(void) {
    pthread_once(&install_once, make_key);
}

int spindle_thread_install_altstack(void) {
    spindle_overflow_handler_install();
    if (pthread_getspecific(altstack_key) != NULL) return 0;
    void *mem = mmap(NULL, SPINDLE_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return errno;
    stack_t ss = { .ss_sp = mem, .ss_size = SPINDLE_ALTSTACK_SIZE, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) != 0) {
        int e = errno;
        munmap(mem, SPINDLE_ALTSTACK_SIZE);
        return e;
    }
    pthread_setspecific(altstack_key, mem);
    return 0;
}

// MARK: - registry

int spindle_overflow_register(void *base, size_t slot_size, size_t guard_size, size_t stack_size,
                              size_t count, const volatile uint64_t *fiber_ids) {
    spindle_overflow_handler_install();
    pthread_mutex_lock(&registry_lock);
    int found = -1;
    int high = atomic_load_explicit(&region_high_water, memory_order_relaxed);
    for (int i = 0; i < high; i++) {
        if (!atomic_load_explicit(&regions[i].live, memory_order_relaxed)) { found = i; break; }
    }
    if (found < 0 && high < SPINDLE_MAX_REGIONS) found = high;
    if (found >= 0) {
        spindle_region_t *r = &regions[found];
        r->base = (uintptr_t)base;
        r->slot_size = slot_size;
        r->guard_size = guard_size;
        r->usable_size = stack_size;
        r->count = count;
        r->fiber_ids = fiber_ids;
        atomic_store_explicit(&r->live, 1, memory_order_release);
        if (found == high) atomic_store_explicit(&region_high_water, high + 1, memory_order_release);
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

void spindle_overflow_unregister(int index) {
    if (index < 0 || index >= SPINDLE_MAX_REGIONS) return;
    pthread_mutex_lock(&registry_lock);
    atomic_store_explicit(&regions[index].live, 0, memory_order_release);
    pthread_mutex_unlock(&registry_lock);
}
