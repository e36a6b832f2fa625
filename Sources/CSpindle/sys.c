#define _GNU_SOURCE
#include "spindle_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>

int spindle_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int spindle_make_pipe(int fds[2], int capacity) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    int size = capacity > 0 ? fcntl(fds[1], F_SETPIPE_SZ, capacity) : -1;
    if (size <= 0) size = fcntl(fds[1], F_GETPIPE_SZ);
    return size > 0 ? size : 4096;
}

int spindle_wait_readable(int fd, int64_t timeout_ns) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
    if (timeout_ns < 0) return ppoll(&pfd, 1, NULL, NULL);
    struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
    return ppoll(&pfd, 1, &ts, NULL);
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

// A pidfd of this process for process_madvise, opened once per process. The process it was
// opened in is kept with it: a child forked by the pre-fork supervisor inherits the parent's
// descriptor, which names the parent, so the child opens its own (and closes its copy).
#if defined(SYS_process_madvise)
static pthread_mutex_t pidfd_lock = PTHREAD_MUTEX_INITIALIZER;
static int self_pidfd = -1;
static pid_t self_pidfd_process = 0;

static int current_self_pidfd(void) {
    pid_t me = getpid();
    pthread_mutex_lock(&pidfd_lock);
    if (self_pidfd_process != me) {
        if (self_pidfd >= 0) close(self_pidfd);
        self_pidfd = -1;
#ifdef SYS_pidfd_open
        self_pidfd = (int)syscall(SYS_pidfd_open, me, 0);
#endif
        self_pidfd_process = me;
    }
    int fd = self_pidfd;
    pthread_mutex_unlock(&pidfd_lock);
    return fd;
}
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// `advice` for `count` ranges of `length` bytes spaced `stride` apart, 1024 ranges per call.
static int advise_strided(void *base, size_t stride, size_t length, size_t count, int advice) {
#if defined(SYS_process_madvise)
    int pidfd = current_self_pidfd();
    if (pidfd < 0) return ENOSYS;
    enum { batch = 1024 };
    struct iovec ranges[batch];
    size_t done = 0;
    while (done < count) {
        size_t n = count - done < batch ? count - done : batch;
        for (size_t i = 0; i < n; i++) {
            ranges[i].iov_base = (char *)base + (done + i) * stride;
            ranges[i].iov_len = length;
        }
        long r = syscall(SYS_process_madvise, pidfd, ranges, n, advice, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if ((size_t)r != n * length) return EAGAIN;  // partial: let the caller redo it per range
        done += n;
    }
    return 0;
#else
    (void)base; (void)stride; (void)length; (void)count; (void)advice;
    return ENOSYS;
#endif
}

int spindle_guard_install_strided(void *base, size_t stride, size_t length, size_t count) {
    return advise_strided(base, stride, length, count, MADV_GUARD_INSTALL);
}

int spindle_populate_strided(void *base, size_t stride, size_t length, size_t count) {
    return advise_strided(base, stride, length, count, MADV_POPULATE_WRITE);
}

int spindle_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

int spindle_signalfd(const sigset_t *signals) {
    return signalfd(-1, signals, SFD_CLOEXEC | SFD_NONBLOCK);
}

int spindle_read_signal(int fd) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t n = read(fd, &info, sizeof info);
        if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return n < 0 ? -errno : -EIO;
    }
}
