// System calls Swift's Glibc module does not import (eventfd, ppoll, pipe2 with F_SETPIPE_SZ and signalfd need
// _GNU_SOURCE headers; prctl is variadic).
#ifndef SPINDLE_SYS_H
#define SPINDLE_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); returns the fd or -1 with errno set.
int spindle_eventfd(void);

/// pipe2(fds, O_CLOEXEC), then F_SETPIPE_SZ to `capacity` bytes when the kernel allows it
/// (capacity 0: the default size).
/// Returns the pipe's buffer size (> 0), or -1 with errno set when no pipe could be made.
int spindle_make_pipe(int fds[2], int capacity);

/// Waits until `fd` is readable or `timeout_ns` passes (negative: no timeout).
/// Returns ppoll's result (-1 with errno on failure, EINTR included).
int spindle_wait_readable(int fd, int64_t timeout_ns);

/// Installs `MADV_GUARD_INSTALL` guard regions of `length` bytes at `count` addresses spaced
/// `stride` bytes apart from `base`, batching up to 1024 ranges per `process_madvise` call.
/// Returns 0, or an errno when the kernel lacks guard regions or batched advice (the caller
/// then falls back to one `madvise` per range, or to other guards).
int spindle_guard_install_strided(void *base, size_t stride, size_t length, size_t count);

/// Commits (`MADV_POPULATE_WRITE`) `count` ranges of `length` bytes spaced `stride` bytes apart
/// from `base`, batched like `spindle_guard_install_strided`: the page faults of a prefault
/// without taking them one by one. Returns 0, or an errno (the caller then touches the pages).
int spindle_populate_strided(void *base, size_t stride, size_t length, size_t count);

/// prctl(PR_SET_PDEATHSIG, signal): the calling thread's process receives `signal` when the
/// thread that forked it ends. Returns 0, or -1 with errno set.
int spindle_set_parent_death_signal(int signal);

/// signalfd(-1, signals, SFD_CLOEXEC | SFD_NONBLOCK): a descriptor that reads the blocked
/// `signals` as they arrive. Returns the fd, or -1 with errno set.
int spindle_signalfd(const sigset_t *signals);

/// Takes one pending signal from a signalfd: its number, 0 when none is pending, or -errno.
int spindle_read_signal(int fd);

#endif
