#define _GNU_SOURCE
#include "spindle_uring.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

_Static_assert(sizeof(struct statx) <= SPINDLE_STATX_BUFFER_SIZE, "statx buffer too small");

void spindle_prep_statx_fd(struct io_uring_sqe *sqe, int fd, void *buffer) {
    io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, (struct statx *)buffer);
}

spindle_file_status_t spindle_statx_decode(const void *buffer) {
    const struct statx *st = buffer;
    spindle_file_status_t out = {
        st->stx_size, st->stx_mode, st->stx_mtime.tv_sec, st->stx_mtime.tv_nsec, st->stx_ino,
        makedev(st->stx_dev_major, st->stx_dev_minor),
    };
    return out;
}

void spindle_set_thread_name(const char *name) {
    char short_name[16];
    size_t i = 0;
    for (; i < 15 && name[i]; i++) short_name[i] = name[i];
    short_name[i] = 0;
    pthread_setname_np(pthread_self(), short_name);
}

int spindle_pin_thread_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int spindle_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int spindle_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    }
    return n;
}
