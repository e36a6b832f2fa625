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
