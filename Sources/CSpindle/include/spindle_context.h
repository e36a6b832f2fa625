// Context switching through boost.context (libboost_context, Debian's libboost-context-dev).
//
// boost.context exports plain C symbols; their C++ declarations live in
// <boost/context/detail/fcontext.hpp>. We repeat them here with C types of identical layout
// (`transfer_t` is two pointers, returned in rax:rdx on x86_64 / x0:x1 on arm64).
//
// Invariant the Swift side relies on: a context is resumed at most once per suspension;
// `jump` returns (on the resumed side) the context of whoever jumped to us, plus their data.
#ifndef SPINDLE_CONTEXT_H
#define SPINDLE_CONTEXT_H

#include <stddef.h>

typedef void *spindle_fcontext_t;

typedef struct spindle_transfer {
    spindle_fcontext_t fctx;
    void *data;
} spindle_transfer_t;

// From libboost_context (not prefixed: these are boost's own exported names).
spindle_transfer_t jump_fcontext(spindle_fcontext_t const to, void *vp);
spindle_fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(spindle_transfer_t));
spindle_transfer_t ontop_fcontext(spindle_fcontext_t const to, void *vp,
                                  spindle_transfer_t (*fn)(spindle_transfer_t));

// On x86_64 System V, switch.c carries a copy of boost's jump_fcontext that returns with `ret`
// (keeping the CPU's return predictions in step; see there). Elsewhere boost's own is used.
#if defined(__x86_64__) && defined(__ELF__) && !defined(_WIN32)
#define SPINDLE_HAS_OWN_JUMP 1
spindle_transfer_t spindle_jump_fcontext(spindle_fcontext_t const to, void *vp);
#else
#define SPINDLE_HAS_OWN_JUMP 0
#endif

/// Suspends the running context and resumes `to`, handing it `data`.
static inline __attribute__((always_inline))
spindle_transfer_t spindle_jump(spindle_fcontext_t to, void *data) {
#if SPINDLE_HAS_OWN_JUMP
    return spindle_jump_fcontext(to, data);
#else
    return jump_fcontext(to, data);
#endif
}

/// 1 in a build with AddressSanitizer (`--sanitize=address`), else 0. Such a build must prepare
/// each fresh fiber's stack with `spindle_fiber_stack_prepared_announced`, switch with
/// `spindle_jump_announced` and enter fibers through `spindle_fiber_arrived_announced`
/// (switch.c): ASan's checks need to know which stack runs.
int spindle_address_sanitizer_active(void);

/// `spindle_jump`, told to AddressSanitizer first: `to_bottom`/`to_size` bound the stack being
/// entered (NULL for the calling thread's own stack); `leaving_for_good` when the running fiber
/// has finished (its ASan fake stack is released). Out of line; a plain jump without ASan.
spindle_transfer_t spindle_jump_announced(spindle_fcontext_t to, void *data, const void *to_bottom, size_t to_size,
                                          int leaving_for_good);

/// Under AddressSanitizer, clears the poison an earlier fiber's frames left on a stack about to
/// get a fresh context (call on the spawning side, before anything runs on it). No-op without ASan.
void spindle_fiber_stack_prepared_announced(void *stack_bottom, size_t stack_size);

/// First call of a fiber entering its fresh stack under AddressSanitizer: completes the switch.
/// No-op without ASan.
void spindle_fiber_arrived_announced(void);

/// Prepares a new context on the stack whose highest address is `stack_top`.
/// `entry` must never return (returning from it exits the thread).
static inline __attribute__((always_inline))
spindle_fcontext_t spindle_make_context(void *stack_top, size_t size, void (*entry)(spindle_transfer_t)) {
    return make_fcontext(stack_top, size, entry);
}

/// A fresh context captured once (see context.c): the bytes `make_fcontext` writes below a
/// 16-byte-aligned stack top, to be copied onto each new fiber's stack instead of calling it.
/// `size` is 0 when the capture could not prove the bytes position-independent: then
/// `spindle_context_from_template` must not be used (call `spindle_make_context`).
#define SPINDLE_CONTEXT_TEMPLATE_MAX 256
typedef struct spindle_context_template {
    size_t size;
    _Alignas(16) unsigned char bytes[SPINDLE_CONTEXT_TEMPLATE_MAX];
} spindle_context_template_t;

/// Captures the context `make_fcontext` builds for `entry`, with the calling thread's current
/// floating-point control words (MXCSR, x87 control word on x86_64) in it.
void spindle_context_template_init(spindle_context_template_t *template_, void (*entry)(spindle_transfer_t));

/// 64 bytes, the size of a fresh x86_64 context, copied as one value.
typedef struct spindle_context_words { _Alignas(16) unsigned long long words[8]; } spindle_context_words_t;

/// Copies a template of any other size (out of line).
void spindle_context_copy(void *context, const spindle_context_template_t *template_);

/// The context `make_fcontext(stack_top, size, entry)` would return, built by copying
/// `template_` (captured for that `entry`, `size` != 0) below `stack_top`: a few stores instead
/// of the call, which also reads the FP control registers each time.
static inline __attribute__((always_inline))
spindle_fcontext_t spindle_context_from_template(const spindle_context_template_t *template_, void *stack_top) {
    unsigned char *top = (unsigned char *)((unsigned long)stack_top & ~15UL);
    unsigned char *context = top - template_->size;
    if (template_->size == sizeof(spindle_context_words_t)) {
        // x86_64 (and any other layout of that size): four vector stores, no call.
        *(spindle_context_words_t *)context = *(const spindle_context_words_t *)template_->bytes;
    } else {
        spindle_context_copy(context, template_);
    }
    return context;
}

// Swift's exclusivity checker keeps the set of active accesses per thread. Fibers sharing a
// thread must swap it like Swift concurrency does for tasks: exit before switching away, enter
// after being resumed. `state` is a zeroed buffer of SPINDLE_EXCLUSIVITY_STATE_SIZE bytes owned
// by the fiber. Both are exported by libswiftCore (Exclusivity.cpp) with the C calling convention.
#define SPINDLE_EXCLUSIVITY_STATE_SIZE 16
void swift_task_enterThreadLocalContext(char *state);
void swift_task_exitThreadLocalContext(char *state);

/// The address of the calling thread's exclusivity access-set head (NULL when the thread has no
/// active dynamic accesses), located and verified by observation (see exclusivity.c); NULL when
/// it cannot be proven, in which case callers must keep calling the runtime on every switch.
void **spindle_exclusivity_locate_head(void);

#endif
