#define _GNU_SOURCE
#include "spindle_sys.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>

int spindle_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int spindle_wait_readable(int fd, int64_t timeout_ns) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
    if (timeout_ns < 0) return ppoll(&pfd, 1, NULL, NULL);
    struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
    return ppoll(&pfd, 1, &ts, NULL);
}
