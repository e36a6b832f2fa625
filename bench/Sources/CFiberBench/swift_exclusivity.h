// Private declarations of the Swift runtime's exclusivity-set swap (libswiftCore,
// stdlib/public/runtime/Exclusivity.cpp; C calling convention). `state` is a zeroed 16-byte
// buffer owned by one task — or, in Spindle, by one fiber.
#ifndef FIBER_BENCH_SWIFT_EXCLUSIVITY_H
#define FIBER_BENCH_SWIFT_EXCLUSIVITY_H

#define BENCH_EXCLUSIVITY_STATE_SIZE 16

void swift_task_enterThreadLocalContext(char *state);
void swift_task_exitThreadLocalContext(char *state);

#endif
