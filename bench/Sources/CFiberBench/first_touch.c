// Baselines for (h): what the kernel charges to fault in one fresh page per stack slot, with no
// fiber code at all. A parked fiber cannot cost less time than this (nor less than 4 KiB RSS).
#include "fiber_bench.h"

#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

double bench_first_touch_ns(uint64_t count, uint64_t stride) {
    size_t bytes = (size_t)(count * stride);
    char *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return -1;

    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        volatile char *top_page = base + (i + 1) * stride - 4096;
        *top_page = 1;
    }
    uint64_t elapsed = bench_now_ns() - start;

    munmap(base, bytes);
    return (double)elapsed;
}

double bench_guarded_touch_ns(uint64_t count, uint64_t stride, uint64_t guard, uint64_t window) {
    size_t bytes = (size_t)(count * stride);
    char *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return -1;
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    struct iovec *vectors = malloc(sizeof(struct iovec) * window);
    double result = -1;
    if (pidfd < 0 || vectors == NULL) goto out;

    uint64_t start = bench_now_ns();
    for (uint64_t first = 0; first < count; first += window) {
        uint64_t n = count - first < window ? count - first : window;
        for (uint64_t j = 0; j < n; j++) {
            vectors[j].iov_base = base + (first + j) * stride;
            vectors[j].iov_len = guard;
        }
        if (syscall(SYS_process_madvise, pidfd, vectors, n, MADV_GUARD_INSTALL, 0) < 0) goto out;
        for (uint64_t j = 0; j < n; j++) {
            volatile char *top_page = base + (first + j + 1) * stride - 4096;
            *top_page = 1;
        }
    }
    result = (double)(bench_now_ns() - start);
out:
    free(vectors);
    if (pidfd >= 0) close(pidfd);
    munmap(base, bytes);
    return result;
}
