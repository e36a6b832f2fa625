// Locating this thread's Swift exclusivity access-set head, so that a fiber switch can skip the
// runtime's exit/enter calls when they provably have nothing to do.
//
// The Swift runtime keeps the active dynamic accesses of a thread in a linked list whose head
// lives in libswiftCore's thread-local storage (not exported). When a fiber's save area is
// empty and the thread's list is empty, swift_task_exitThreadLocalContext and
// swift_task_enterThreadLocalContext move nothing; knowing the head's address lets us check
// that with two loads instead of two calls.
//
// We find the address by observation and then prove it:
//  1. enter() a save area holding one fake access record R: the runtime makes R the head.
//  2. Scan the thread's TLS blocks (dl_iterate_phdr) for a word equal to &R; exactly one must match.
//  3. exit() the same save area: the runtime removes R; the word must be back to its old value.
//  4. Begin a real tracked modify access with swift_beginAccess: the word must point at it;
//     swift_endAccess: the word must be restored.
// Any mismatch returns NULL and the caller keeps calling the runtime on every switch.
#define _GNU_SOURCE
#include "spindle_context.h"

#include <link.h>
#include <stdint.h>
#include <string.h>

// From the Swift runtime (swift/Runtime/Exclusivity.h), C calling convention.
void swift_beginAccess(void *pointer, void *buffer, uintptr_t flags, void *pc);
void swift_endAccess(void *buffer);

// ExclusivityFlags: Modify = 1, Tracking = 0x20 (the access is recorded in the access set).
#define SPINDLE_ACCESS_MODIFY_TRACKED 0x21

typedef struct {
    void *pointer;
    void *pc;
    uintptr_t next_and_action;
} spindle_fake_access_t;

typedef struct {
    uintptr_t needle;
    void **found;
    int matches;
} spindle_probe_t;

static int scan_module(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    spindle_probe_t *probe = data;
    if (info->dlpi_tls_data == NULL) return 0;
    size_t memsz = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_TLS) memsz = info->dlpi_phdr[i].p_memsz;
    }
    uintptr_t *words = info->dlpi_tls_data;
    for (size_t i = 0; i < memsz / sizeof(uintptr_t); i++) {
        if (words[i] == probe->needle) {
            probe->found = (void **)&words[i];
            probe->matches++;
        }
    }
    return 0;
}

void **spindle_exclusivity_locate_head(void) {
    spindle_fake_access_t record;
    memset(&record, 0, sizeof(record));
    uintptr_t state[2] = { (uintptr_t)&record, (uintptr_t)&record };

    swift_task_enterThreadLocalContext((char *)state);  // 1: R becomes the head
    spindle_probe_t probe = { (uintptr_t)&record, NULL, 0 };
    dl_iterate_phdr(scan_module, &probe);               // 2
    void *previous = (void *)(record.next_and_action & ~(uintptr_t)1);
    swift_task_exitThreadLocalContext((char *)state);   // 3: R leaves the list
    if (probe.matches != 1) return NULL;
    void **head = probe.found;
    if (*head != previous) return NULL;

    uintptr_t value = 0;                                // 4: a real tracked access
    void *buffer[3] = { 0, 0, 0 };
    swift_beginAccess(&value, buffer, SPINDLE_ACCESS_MODIFY_TRACKED, NULL);
    int tracked = (*head == (void *)buffer);
    swift_endAccess(buffer);
    if (!tracked || *head != previous) return NULL;
    return head;
}
