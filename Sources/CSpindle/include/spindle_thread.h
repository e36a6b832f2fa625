// Per-thread slots on the fast path.
//
// Swift has no thread-local storage of its own; these are C `__thread` variables with the
// initial-exec model, so reading one is a single %fs-relative load. Invariant: CSpindle is linked
// into the executable (SwiftPM links targets statically), never dlopen'ed, which initial-exec needs.
#ifndef SPINDLE_THREAD_H
#define SPINDLE_THREAD_H

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

#endif
