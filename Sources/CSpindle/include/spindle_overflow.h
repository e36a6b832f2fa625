// Stack-overflow reporting.
//
// Stack pools register their memory regions here. A SIGSEGV whose fault address lies in the
// guard area of a registered slot is reported in words (fiber id, stack size, how to raise it)
// before the process aborts; any other SIGSEGV/SIGBUS is passed on to the previous handler.
//
// Invariant: the handler runs on an alternate signal stack (the faulting stack is exhausted),
// so every thread that runs fibers calls spindle_thread_install_altstack() once.
#ifndef SPINDLE_OVERFLOW_H
#define SPINDLE_OVERFLOW_H

#include <stddef.h>
#include <stdint.h>

#define SPINDLE_SIDE_TABLE_WORDS 8
#define SPINDLE_SIDE_TABLE_OWNER 0
#define SPINDLE_SIDE_TABLE_SUBJECT 2

/// Installs the process-wide SIGSEGV/SIGBUS handler (idempotent, thread-safe).
void spindle_overflow_handler_install(void);

/// Gives the calling thread an alternate signal stack (idempotent per thread). Returns 0 or errno.
int spindle_thread_install_altstack(void);

/// Registers `count` stack slots of `slot_size` bytes starting at `base`, each with
/// `guard_size` inaccessible bytes at its low end; `stack_size` is the configured stack size the
/// report names.
/// `fiber_ids` is the pool's side table: SPINDLE_SIDE_TABLE_WORDS words per slot, of which the
/// handlers read the fiber id (word SPINDLE_SIDE_TABLE_OWNER) and what it serves (address and
/// length at SPINDLE_SIDE_TABLE_SUBJECT and the word after). Must match SpindleMemory's SideTable.
/// Returns a registration index, or -1 when the registry is full.
int spindle_overflow_register(void *base, size_t slot_size, size_t guard_size, size_t stack_size,
                              size_t count, const volatile uint64_t *fiber_ids);

/// The side-table words of the registered slot holding `addr` (any address in the slot), or
/// NULL when no registered stack holds it. Async-signal-safe (acquire loads only).
const volatile uint64_t *spindle_stack_side_words(uintptr_t addr);

/// The lowest 8-byte-aligned address in [low, high) whose word is not zero, or 0 when every
/// word is zero. For the stack high-water scan: it reads fiber stacks, where the frames of
/// parked fibers may have AddressSanitizer redzones, so it is not instrumented.
uintptr_t spindle_stack_lowest_nonzero(uintptr_t low, uintptr_t high);

/// Removes a registration (before its memory is unmapped).
void spindle_overflow_unregister(int index);

/// Reports an overflow detected by a check other than a guard page (a canary) and aborts.
_Noreturn void spindle_overflow_report(uint64_t fiber_id, size_t usable_size, const char *how);

#endif
