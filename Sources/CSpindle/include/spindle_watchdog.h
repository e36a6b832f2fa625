// The CPU-hog watchdog's capture: what a worker thread is running, taken from inside it.
//
// The watchdog thread (Swift) decides that a worker has run one fiber too long; it then asks
// for a capture of that thread: SIGURG is sent to it with pthread_kill, and the handler, on the
// worker's alternate signal stack, records the return addresses of the running code
// (backtrace(3)), the fiber whose stack the interrupted stack pointer lies in (through the
// stack registry of spindle_overflow.h) and the first line of what that fiber serves. Symbols
// are looked up afterwards, on the watchdog thread (spindle_watchdog_symbols).
//
// Invariants:
// - The handler makes only async-signal-safe calls: backtrace() (preloaded at install, so it
//   does not load libgcc inside the handler), loads and stores; no malloc, no locks.
// - One capture at a time in the process (a mutex around the request); the handler writes only
//   while a request for its own thread is open, into a static buffer that the requester copies.
// - SIGURG's default action is to ignore it, so a signal that arrives before the handler is
//   installed, or at a thread that is not a worker, does nothing.
#ifndef SPINDLE_WATCHDOG_H
#define SPINDLE_WATCHDOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SPINDLE_CAPTURE_FRAMES 48
#define SPINDLE_CAPTURE_SUBJECT 240

typedef struct {
    void *frames[SPINDLE_CAPTURE_FRAMES];
    int frame_count;
    /// The fiber whose stack the thread was on (0: not a fiber stack, e.g. the scheduler loop).
    uint64_t fiber_id;
    /// The first line of what that fiber serves (an HTTP request line), not NUL-terminated.
    char subject[SPINDLE_CAPTURE_SUBJECT];
    size_t subject_length;
} spindle_capture_t;

/// Interrupts `thread` and copies what its handler captured into `out`. Returns 0, ETIMEDOUT
/// when the handler did not run within `timeout_ms`, or pthread_kill's error. Any thread but
/// `thread`; blocks at most `timeout_ms` (plus a wait for another capture in progress).
int spindle_watchdog_capture(pthread_t thread, int timeout_ms, spindle_capture_t *out);

/// The symbol of each frame (backtrace_symbols(3)): an array of `count` strings that the
/// caller frees with free() (one block). NULL when out of memory. Not for signal handlers.
char **spindle_watchdog_symbols(void *const *frames, int count);

/// The calling thread, for spindle_watchdog_capture.
pthread_t spindle_current_thread(void);

#endif
