// Per-thread slots on the fast path.
//
// Swift has no thread-local storage of its own; these are C `__thread` variables with the
// initial-exec model, so reading one is a single %fs-relative load. Invariant: CSpindle is linked
// into the executable (SwiftPM links targets statically), never dlopen'ed, which initial-exec needs.
#ifndef SPINDLE_THREAD_H
#define SPINDLE_THREAD_H

#include <stdint.h>
#include <time.h>

extern __thread void *spindle_tls_scheduler __attribute__((tls_model("initial-exec")));

/// The scheduler running on this thread (an unretained Swift object), or NULL.
static inline __attribute__((always_inline)) void *spindle_current_scheduler(void) {
    return spindle_tls_scheduler;
}

static inline __attribute__((always_inline)) void spindle_set_current_scheduler(void *scheduler) {
    spindle_tls_scheduler = scheduler;
}

extern __thread void *spindle_tls_reactor __attribute__((tls_model("initial-exec")));

/// The I/O reactor of this thread's scheduler (an unretained Swift object), or NULL.
static inline __attribute__((always_inline)) void *spindle_current_reactor(void) {
    return spindle_tls_reactor;
}

static inline __attribute__((always_inline)) void spindle_set_current_reactor(void *reactor) {
    spindle_tls_reactor = reactor;
}

/// The coarse clocks of this thread as of its scheduler's current loop turn: each read from the
/// kernel's vDSO at most once per turn, then from here. The scheduler marks the thread active
/// while its loop runs (`spindle_run_clock_activate`) and clears the cached values at the top of
/// every turn (`spindle_run_clock_expire`), before it fires timers, reaps completions and runs
/// fibers; on a thread without a running scheduler nothing is cached and every read is a clock
/// read. Invariant: a value is never older than the start of the turn that reads it, and a turn
/// runs at most the scheduler's switch budget of fiber switches (nginx caches its time per
/// event-loop turn the same way).
typedef struct {
    uint64_t monotonic_ns;     // CLOCK_MONOTONIC_COARSE in ns; 0 = not read in this turn
    int64_t realtime_seconds;  // CLOCK_REALTIME_COARSE's seconds; INT64_MIN = not read in this turn
    int active;                // a scheduler loop runs on this thread
} spindle_run_clock_t;

extern __thread spindle_run_clock_t spindle_tls_run_clock __attribute__((tls_model("initial-exec")));

static inline __attribute__((always_inline)) void spindle_run_clock_expire(void) {
    spindle_tls_run_clock.monotonic_ns = 0;
    spindle_tls_run_clock.realtime_seconds = INT64_MIN;
}

static inline __attribute__((always_inline)) void spindle_run_clock_activate(int active) {
    spindle_run_clock_expire();
    spindle_tls_run_clock.active = active;
}

/// CLOCK_MONOTONIC_COARSE in nanoseconds, as of this turn (see spindle_run_clock_t).
static inline __attribute__((always_inline)) uint64_t spindle_run_clock_monotonic_coarse(void) {
    spindle_run_clock_t *clock = &spindle_tls_run_clock;
    if (clock->monotonic_ns != 0) return clock->monotonic_ns;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (clock->active) clock->monotonic_ns = ns;
    return ns;
}

/// CLOCK_REALTIME_COARSE's seconds since the Unix epoch, as of this turn (see spindle_run_clock_t).
static inline __attribute__((always_inline)) int64_t spindle_run_clock_realtime_seconds(void) {
    spindle_run_clock_t *clock = &spindle_tls_run_clock;
    if (clock->realtime_seconds != INT64_MIN) return clock->realtime_seconds;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (clock->active) clock->realtime_seconds = (int64_t)ts.tv_sec;
    return (int64_t)ts.tv_sec;
}

#endif
