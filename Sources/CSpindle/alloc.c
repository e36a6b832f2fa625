// Allocator introspection. With the `Mimalloc` trait, libmimalloc is linked and overrides
// malloc/free for the whole process (Swift objects included).
#include "spindle_alloc.h"

#include <stdio.h>

#ifdef SPINDLE_MIMALLOC
#include <mimalloc.h>

bool spindle_mimalloc_linked(void) { return true; }
bool spindle_mimalloc_owns(const void *p) { return mi_is_in_heap_region(p); }
int spindle_mimalloc_version(void) { return mi_version(); }
void spindle_mimalloc_print_stats(void) { mi_stats_print_out(NULL, NULL); }
#else
bool spindle_mimalloc_linked(void) { return false; }
bool spindle_mimalloc_owns(const void *p) { (void)p; return false; }
int spindle_mimalloc_version(void) { return 0; }
void spindle_mimalloc_print_stats(void) {}
#endif
