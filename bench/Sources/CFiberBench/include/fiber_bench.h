// CFiberBench: the C side of `fiber-bench` — baselines that must not go through Swift.
//
// Each function runs a tight loop and returns nanoseconds per operation, measured with
// CLOCK_MONOTONIC around the loop only (setup excluded).
#ifndef FIBER_BENCH_H
#define FIBER_BENCH_H

#include <stdint.h>

/// Monotonic clock in nanoseconds.
uint64_t bench_now_ns(void);

/// CPUs in this process's affinity mask (1 under `taskset -c 0`), or -1 on error.
int bench_allowed_cpus(void);

/// Lets this process run on every online CPU again (undoes an inherited `taskset`), so a peer
/// can be measured the way a user would run it. Returns the CPUs now allowed, or -1 on error.
int bench_unpin(void);

/// Two boost.context contexts (this thread's and one on a private stack) bouncing with
/// `jump_fcontext` for `round_trips` round trips. Returns ns per switch (one jump).
/// Returns a negative value when the stack cannot be mapped.
double bench_raw_switch_ns(uint64_t round_trips);

/// `swift_task_exitThreadLocalContext` + `swift_task_enterThreadLocalContext` on one zeroed
/// 16-byte state buffer, `pairs` times — the exclusivity-set swap a fiber switch performs.
/// Returns ns per exit+enter pair.
double bench_exclusivity_pair_ns(uint64_t pairs);

/// The page-fault floor under the parked-fibers benchmark: maps `count` slots of `stride`
/// bytes (lazily committed, like a stack pool) and writes one byte in the highest page of each
/// slot, where a fiber's stack starts. Returns ns for the touching loop (mapping excluded),
/// or a negative value when the mapping fails.
double bench_first_touch_ns(uint64_t count, uint64_t stride);

/// The same floor for guarded stacks: as `bench_first_touch_ns`, and before each window of
/// `window` slots is touched, one batched `MADV_GUARD_INSTALL` (`process_madvise`) puts a
/// `guard`-byte guard at the bottom of each of its slots, as the stack pool does. Returns ns
/// for the guarding and touching loop, or a negative value when the mapping fails or the
/// kernel has no `MADV_GUARD_INSTALL` (before Linux 6.13).
double bench_guarded_touch_ns(uint64_t count, uint64_t stride, uint64_t guard, uint64_t window);

#endif
