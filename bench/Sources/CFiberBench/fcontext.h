// Private declarations of boost.context's C-linkage switch primitives (libboost_context).
//
// boost declares them in C++ (<boost/context/detail/fcontext.hpp>); the layout repeated here is
// the same: a context is an opaque pointer, and `transfer` is two pointers returned in
// registers. Kept out of `include/` so Swift never sees a second declaration next to CSpindle's.
#ifndef FIBER_BENCH_FCONTEXT_H
#define FIBER_BENCH_FCONTEXT_H

#include <stddef.h>

typedef void *fcontext_t;

typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;

/// Suspends the running context and resumes `to`, handing it `vp`.
transfer_t jump_fcontext(fcontext_t const to, void *vp);

/// Prepares a context on the stack whose highest address is `sp` that will enter `fn`.
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#endif
