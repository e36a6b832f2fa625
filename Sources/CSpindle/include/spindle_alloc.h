// Which allocator serves malloc in this process, and its statistics.
#ifndef SPINDLE_ALLOC_H
#define SPINDLE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/// True when Spindle was built with mimalloc linked (the `Mimalloc` package trait).
bool spindle_mimalloc_linked(void);

/// True when `p` (from malloc) lies in mimalloc's heap: proves malloc is really mimalloc.
/// Always false when mimalloc is not linked.
bool spindle_mimalloc_owns(const void *p);

/// mimalloc's version (e.g. 209 for 2.0.9), or 0 when not linked.
int spindle_mimalloc_version(void);

/// Prints mimalloc's statistics to stderr (no-op without mimalloc).
void spindle_mimalloc_print_stats(void);

#endif
