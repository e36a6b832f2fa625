// Fresh fiber contexts from a template (spindle_context.h): boost's make_fcontext, called once
// per scheduler on scratch memory, and its output copied onto each new stack afterwards.
//
// What make_fcontext writes below the aligned stack top (x86_64: 0x40 bytes) is the entry
// function, the addresses of boost's trampoline and exit stub, and the FP control words read
// at that moment: no stack address. The capture checks that instead of assuming it: it builds
// the context at two different scratch addresses and keeps the template only when both are the
// same size and byte for byte identical; otherwise `size` stays 0 and callers use make_fcontext.
//
// Consequence for users: a fiber starts with the FP control state (rounding mode, exception
// masks) its scheduler's thread had when the template was captured (scheduler start), not the
// spawning fiber's at the moment of the spawn. Switches still save and restore it per fiber.
#include "spindle_context.h"
#include <string.h>

/// Builds a context for `entry` below the 16-byte-aligned `top` of a zeroed scratch area and
/// returns how many bytes it occupies (0 when out of the template's range).
static size_t make_in_scratch(unsigned char *top, void (*entry)(spindle_transfer_t)) {
    memset(top - SPINDLE_CONTEXT_TEMPLATE_MAX, 0, SPINDLE_CONTEXT_TEMPLATE_MAX);
    unsigned char *context = make_fcontext(top, SPINDLE_CONTEXT_TEMPLATE_MAX, entry);
    size_t size = (size_t)(top - context);
    return size > 0 && size <= SPINDLE_CONTEXT_TEMPLATE_MAX ? size : 0;
}

void spindle_context_template_init(spindle_context_template_t *template_, void (*entry)(spindle_transfer_t)) {
    // Two scratch stacks at different addresses (separate buffers, the second one larger so the
    // two tops cannot share an offset from a common alignment by chance).
    _Alignas(16) unsigned char first[SPINDLE_CONTEXT_TEMPLATE_MAX];
    _Alignas(16) unsigned char second[SPINDLE_CONTEXT_TEMPLATE_MAX + 64];
    template_->size = 0;
    size_t size = make_in_scratch(first + sizeof first, entry);
    size_t again = make_in_scratch(second + SPINDLE_CONTEXT_TEMPLATE_MAX, entry);
    if (size == 0 || size != again) return;
    if (memcmp(first + sizeof first - size, second + SPINDLE_CONTEXT_TEMPLATE_MAX - size, size) != 0) return;
    memcpy(template_->bytes, first + sizeof first - size, size);
    template_->size = size;
}

void spindle_context_copy(void *context, const spindle_context_template_t *template_) {
    memcpy(context, template_->bytes, template_->size);
}
