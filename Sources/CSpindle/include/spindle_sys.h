// System calls Swift's Glibc module does not import (eventfd, ppoll need _GNU_SOURCE headers).
#ifndef SPINDLE_SYS_H
#define SPINDLE_SYS_H

#include <stdint.h>

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); returns the fd or -1 with errno set.
int spindle_eventfd(void);

/// Waits until `fd` is readable or `timeout_ns` passes (negative: no timeout).
/// Returns ppoll's result (-1 with errno on failure, EINTR included).
int spindle_wait_readable(int fd, int64_t timeout_ns);

#endif
