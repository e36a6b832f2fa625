// Baseline for (h): what the kernel charges to fault in one fresh page per stack slot, with no
// fiber code at all. A parked fiber cannot cost less time than this (nor less than 4 KiB RSS).
#include "fiber_bench.h"

#include <stddef.h>
#include <sys/mman.h>

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
