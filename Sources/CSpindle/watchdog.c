// The CPU-hog watchdog's capture (see spindle_watchdog.h for the protocol and invariants).
#define _GNU_SOURCE
#include "spindle_watchdog.h"
#include "spindle_overflow.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static spindle_capture_t capture;
/// The thread a capture is open for; written under capture_lock, read by the handler.
static _Atomic(pthread_t) capture_thread;
static _Atomic int capture_open = 0;
static _Atomic int capture_done = 0;

static uintptr_t interrupted_stack_pointer(void *uctx) {
    ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static void on_capture(int sig, siginfo_t *info, void *uctx) {
    (void)sig;
    (void)info;
    int saved_errno = errno;
    if (atomic_load_explicit(&capture_open, memory_order_acquire)
        && pthread_equal(pthread_self(), atomic_load_explicit(&capture_thread, memory_order_relaxed))
        && !atomic_load_explicit(&capture_done, memory_order_relaxed)) {
        capture.frame_count = backtrace(capture.frames, SPINDLE_CAPTURE_FRAMES);
        capture.fiber_id = 0;
        capture.subject_length = 0;
        const volatile uint64_t *words = spindle_stack_side_words(interrupted_stack_pointer(uctx));
        if (words) {
            capture.fiber_id = words[SPINDLE_SIDE_TABLE_OWNER];
            const char *subject = (const char *)(uintptr_t)words[SPINDLE_SIDE_TABLE_SUBJECT];
            uint64_t length = words[SPINDLE_SIDE_TABLE_SUBJECT + 1];
            size_t n = 0;
            while (subject && n < length && n < SPINDLE_CAPTURE_SUBJECT && subject[n] != '\r' && subject[n] != '\n') {
                capture.subject[n] = subject[n];
                n++;
            }
            capture.subject_length = n;
        }
        atomic_store_explicit(&capture_done, 1, memory_order_release);
    }
    errno = saved_errno;
}

static void install(void) {
    void *warm[2];
    (void)backtrace(warm, 2);  // loads libgcc's unwinder now, not in the handler
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_capture;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, NULL);
}

int spindle_watchdog_capture(pthread_t thread, int timeout_ms, spindle_capture_t *out) {
    pthread_once(&install_once, install);
    pthread_mutex_lock(&capture_lock);
    atomic_store_explicit(&capture_done, 0, memory_order_relaxed);
    atomic_store_explicit(&capture_thread, thread, memory_order_relaxed);
    atomic_store_explicit(&capture_open, 1, memory_order_release);
    int rc = pthread_kill(thread, SIGURG);
    if (rc == 0) {
        rc = ETIMEDOUT;
        for (int waited = 0; waited <= timeout_ms; waited++) {
            if (atomic_load_explicit(&capture_done, memory_order_acquire)) { rc = 0; break; }
            struct timespec pause = { .tv_sec = 0, .tv_nsec = 1000000 };
            nanosleep(&pause, NULL);
        }
    }
    atomic_store_explicit(&capture_open, 0, memory_order_release);
    // A handler that passed its check before the close may still be writing: wait for it.
    if (rc != 0) {
        for (int i = 0; i < 100 && atomic_load_explicit(&capture_done, memory_order_acquire) == 0; i++) {
            struct timespec pause = { .tv_sec = 0, .tv_nsec = 100000 };
            nanosleep(&pause, NULL);
        }
    }
    if (rc == 0) memcpy(out, &capture, sizeof(capture));
    pthread_mutex_unlock(&capture_lock);
    return rc;
}

char **spindle_watchdog_symbols(void *const *frames, int count) {
    return backtrace_symbols(frames, count);
}

pthread_t spindle_current_thread(void) {
    return pthread_self();
}
