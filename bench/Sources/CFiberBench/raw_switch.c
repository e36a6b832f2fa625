// Baseline (a): the cheapest possible switch — boost.context's jump_fcontext with nothing
// around it. The peer context just jumps back to whoever resumed it, forever.
#include "fiber_bench.h"
#include "fcontext.h"

#include <sys/mman.h>

/// Bytes of the peer's stack (it needs a few frames only).
#define PEER_STACK_SIZE (64 * 1024)

/// Body of the peer context: bounce every jump straight back. Never returns.
static void peer_entry(transfer_t t) {
    for (;;) {
        t = jump_fcontext(t.fctx, t.data);
    }
}

double bench_raw_switch_ns(uint64_t round_trips) {
    void *stack = mmap(NULL, PEER_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return -1;
    fcontext_t peer = make_fcontext((char *)stack + PEER_STACK_SIZE, PEER_STACK_SIZE, peer_entry);
    transfer_t t = jump_fcontext(peer, NULL);  // first entry: the peer starts and jumps back

    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < round_trips; i++) {
        t = jump_fcontext(t.fctx, NULL);
    }
    uint64_t elapsed = bench_now_ns() - start;

    // The peer stays suspended inside peer_entry; it is never resumed again, so its stack can go.
    munmap(stack, PEER_STACK_SIZE);
    return (double)elapsed / (double)(2 * round_trips);
}
