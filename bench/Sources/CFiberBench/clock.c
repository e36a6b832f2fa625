// Clock and affinity helpers (sched_getaffinity/sched_setaffinity need _GNU_SOURCE, which
// Swift's Glibc lacks).
#define _GNU_SOURCE
#include "fiber_bench.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_allowed_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int bench_unpin(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (long cpu = 0; cpu < online && cpu < CPU_SETSIZE; cpu++) CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}
