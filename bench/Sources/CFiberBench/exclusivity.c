// Baseline (b): the exclusivity-set swap alone. A Spindle fiber calls `exit` with its own
// state when it switches away and `enter` when it is resumed; the loop below replays that
// sequence for one fiber (enter once on first entry, then exit+enter per switch, exit at the end).
#include "fiber_bench.h"
#include "swift_exclusivity.h"

#include <string.h>

double bench_exclusivity_pair_ns(uint64_t pairs) {
    char state[BENCH_EXCLUSIVITY_STATE_SIZE];
    memset(state, 0, sizeof state);
    swift_task_enterThreadLocalContext(state);

    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < pairs; i++) {
        swift_task_exitThreadLocalContext(state);
        swift_task_enterThreadLocalContext(state);
    }
    uint64_t elapsed = bench_now_ns() - start;

    swift_task_exitThreadLocalContext(state);
    return (double)elapsed / (double)pairs;
}
