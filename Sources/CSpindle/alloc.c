// Allocator introspection. With the `Mimalloc` trait, libmimalloc is linked and overrides
// malloc/free for the whole process (Swift objects included).
#include "spindle_alloc.h"

#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

size_t spindle_glibc_malloc_bytes_in_use(void) {
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#elif defined(__GLIBC__)
    struct mallinfo info = mallinfo();  // int fields: wrap past 2 GiB (glibc before 2.33 has no mallinfo2)
    return (size_t)(unsigned)info.uordblks + (size_t)(unsigned)info.hblkhd;
#else
    return 0;
#endif
}

#ifdef SPINDLE_MIMALLOC
#include <mimalloc.h>

bool spindle_mimalloc_linked(void) { return true; }
bool spindle_mimalloc_owns(const void *p) { return mi_is_in_heap_region(p); }
int spindle_mimalloc_version(void) { return mi_version(); }
void spindle_mimalloc_print_stats(void) { mi_stats_print_out(NULL, NULL); }
size_t spindle_mimalloc_committed_bytes(void) {
    size_t elapsed, user, system, rss, peak_rss, commit = 0, peak_commit, faults;
    mi_process_info(&elapsed, &user, &system, &rss, &peak_rss, &commit, &peak_commit, &faults);
    return commit;
}
#else
bool spindle_mimalloc_linked(void) { return false; }
bool spindle_mimalloc_owns(const void *p) { (void)p; return false; }
int spindle_mimalloc_version(void) { return 0; }
void spindle_mimalloc_print_stats(void) {}
size_t spindle_mimalloc_committed_bytes(void) { return 0; }
#endif
