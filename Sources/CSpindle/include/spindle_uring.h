// liburing (Debian's liburing-dev, 2.3+) for SpindleIO. Its static inline helpers import into
// Swift directly; the few things Swift cannot express (setting SQE fields by pointer in one
// call, CPU affinity) get thin wrappers here.
#ifndef SPINDLE_URING_H
#define SPINDLE_URING_H

// The kernel's io_uring.h first: liburing's bundled copy has the same include guard and is then
// skipped, so `struct io_uring_sqe` and the rest come from one header whoever else includes it.
// swift-system's CSystem module (a dependency of swift-configuration) includes the kernel's;
// two modules defining these structs from two different headers fail Clang's module merge.
#include <linux/io_uring.h>
#include <liburing.h>
#include <stdint.h>

// SQE flag values (liburing defines them as macros over enum bits, which Swift cannot import).
static const uint8_t SPINDLE_IOSQE_IO_LINK = IOSQE_IO_LINK;
static const uint8_t SPINDLE_IOSQE_BUFFER_SELECT = IOSQE_BUFFER_SELECT;

/// Bytes of the buffer `spindle_prep_statx_fd` fills (a `struct statx`).
#define SPINDLE_STATX_BUFFER_SIZE 256

/// What Spindle reads out of a `struct statx`.
typedef struct {
    uint64_t size;
    uint32_t mode;
    int64_t modification_seconds;
    uint32_t modification_nanoseconds;
    uint64_t inode;
    uint64_t device;
} spindle_file_status_t;

/// Prepares a statx of the open descriptor `fd` into `buffer` (SPINDLE_STATX_BUFFER_SIZE bytes).
void spindle_prep_statx_fd(struct io_uring_sqe *sqe, int fd, void *buffer);

/// Decodes the `struct statx` in `buffer`.
spindle_file_status_t spindle_statx_decode(const void *buffer);

/// Names the calling thread (at most 15 characters are kept).
void spindle_set_thread_name(const char *name);

/// Sets `user_data` and OR-s `flags` into an SQE.
static inline void spindle_sqe_set(struct io_uring_sqe *sqe, uint64_t user_data, uint8_t flags) {
    sqe->user_data = user_data;
    sqe->flags |= flags;
}

/// Sets the buffer group of a buffer-select SQE.
static inline void spindle_sqe_set_buf_group(struct io_uring_sqe *sqe, uint16_t group) {
    sqe->buf_group = group;
}

/// Pins the calling thread to `cpu`. Returns 0 or an errno.
int spindle_pin_thread_to_cpu(int cpu);

/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
int spindle_available_cpus(void);

/// The CPUs this process may run on, in ascending order; returns how many were written.
int spindle_allowed_cpus(int *cpus, int capacity);

#endif
