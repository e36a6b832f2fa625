// spindle_jump_fcontext: boost.context's jump_fcontext (x86_64 System V, boost 1.74), instruction
// for instruction, except for its last step. Same context layout, so contexts made by boost's
// make_fcontext and saved by either function resume with either function.
//
// Why a copy: boost ends a switch with `pop %r8; jmp *%r8`. The `call` into the jump pushed a
// return-stack-buffer entry that this `jmp` never consumes, so after every switch the CPU's
// return predictions are off by one and each of the resumed fiber's next returns is mispredicted
// (two to three per `Fiber.yield`, ~5 ns each). Ending with `ret` instead consumes that entry;
// fibers resuming at the same call site (the usual case) then have their returns predicted.
//
// Invariants (the same as boost's): the context data is 0x40 bytes at the saved stack pointer:
// MXCSR and the x87 control word at 0x0/0x4, r12-r15, rbx, rbp at 0x8-0x30, the return address
// at 0x38. Returns {previous context, data} in rax:rdx and passes them in rdi:rsi to a fresh
// context's entry (boost's trampoline expects that).
#include "spindle_context.h"

#if SPINDLE_HAS_OWN_JUMP
__asm__(
    ".text\n"
    ".globl spindle_jump_fcontext\n"
    ".type spindle_jump_fcontext,@function\n"
    ".align 16\n"
    "spindle_jump_fcontext:\n"
    "    leaq  -0x38(%rsp), %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw  0x4(%rsp)\n"
    "    movq  %r12, 0x8(%rsp)\n"
    "    movq  %r13, 0x10(%rsp)\n"
    "    movq  %r14, 0x18(%rsp)\n"
    "    movq  %r15, 0x20(%rsp)\n"
    "    movq  %rbx, 0x28(%rsp)\n"
    "    movq  %rbp, 0x30(%rsp)\n"
    "    movq  %rsp, %rax\n"           // the context we leave
    "    movq  %rdi, %rsp\n"           // the context we enter
    "    ldmxcsr (%rsp)\n"
    "    fldcw   0x4(%rsp)\n"
    "    movq  0x8(%rsp), %r12\n"
    "    movq  0x10(%rsp), %r13\n"
    "    movq  0x18(%rsp), %r14\n"
    "    movq  0x20(%rsp), %r15\n"
    "    movq  0x28(%rsp), %rbx\n"
    "    movq  0x30(%rsp), %rbp\n"
    "    leaq  0x38(%rsp), %rsp\n"     // now at the saved return address
    "    movq  %rsi, %rdx\n"           // transfer_t {rax, rdx} for a resumed jump
    "    movq  %rax, %rdi\n"           // and {rdi, rsi} for a fresh context's trampoline
    "    ret\n"
    ".size spindle_jump_fcontext, .-spindle_jump_fcontext\n"
    ".section .note.GNU-stack,\"\",@progbits\n"
    ".text\n"
);
#endif

// AddressSanitizer's view of stack switches (a build with `--sanitize=address`; see
// spindle_context.h). ASan keeps, per thread, the bounds of the stack in use and a "fake stack"
// for locals whose address escapes; without being told of a switch it takes a fiber's frames for
// another stack's and reports accesses to them, and it leaves the poison of frames that never
// returned on a stack that is reused. The protocol (compiler-rt's common_interface_defs.h):
// `__sanitizer_start_switch_fiber` just before a jump, naming the stack being entered (and
// NULL for the fake stack of a fiber leaving for good), `__sanitizer_finish_switch_fiber` first
// thing on the side that arrives.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPINDLE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(SPINDLE_ASAN)
#define SPINDLE_ASAN 1
#endif

#if SPINDLE_ASAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // pthread_getattr_np
#endif
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

// The bounds of the calling thread's own stack, where its scheduler loop runs.
static __thread const void *thread_stack_bottom;
static __thread size_t thread_stack_size;

static void thread_stack_bounds(const void **bottom, size_t *size) {
    if (thread_stack_size == 0) {
        pthread_attr_t attributes;
        void *address = NULL;
        size_t bytes = 0;
        if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
            pthread_attr_getstack(&attributes, &address, &bytes);
            pthread_attr_destroy(&attributes);
        }
        thread_stack_bottom = address;
        thread_stack_size = bytes;
    }
    *bottom = thread_stack_bottom;
    *size = thread_stack_size;
}
#endif

int spindle_address_sanitizer_active(void) {
#if SPINDLE_ASAN
    return 1;
#else
    return 0;
#endif
}

spindle_transfer_t spindle_jump_announced(spindle_fcontext_t to, void *data, const void *to_bottom, size_t to_size,
                                          int leaving_for_good) {
#if SPINDLE_ASAN
    if (to_bottom == NULL) thread_stack_bounds(&to_bottom, &to_size);
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(leaving_for_good ? NULL : &fake_stack, to_bottom, to_size);
    spindle_transfer_t transfer = spindle_jump(to, data);
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
    return transfer;
#else
    (void)to_bottom; (void)to_size; (void)leaving_for_good;
    return spindle_jump(to, data);
#endif
}

void spindle_fiber_stack_prepared_announced(void *stack_bottom, size_t stack_size) {
#if SPINDLE_ASAN
    // Nothing runs on the stack yet (called on the spawning side), so poison left on it by an
    // earlier fiber's frames that never returned is stale: cleared. Checked first, because
    // clearing writes the whole range's shadow (resident memory) and most stacks are clean.
    if (__asan_region_is_poisoned(stack_bottom, stack_size)) __asan_unpoison_memory_region(stack_bottom, stack_size);
#else
    (void)stack_bottom; (void)stack_size;
#endif
}

void spindle_fiber_arrived_announced(void) {
#if SPINDLE_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}
