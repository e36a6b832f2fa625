// The load generator for `make bench-io`: `connections` TCP connections to 127.0.0.1:<port>,
// each sending a `size`-byte message and waiting for its echo. One thread, epoll, so it loads
// the server the same way for every peer.
//
//   echo-client <port> <connections> <size> <seconds> [<warmup-seconds> <server-pid>]
//
// With four arguments it prints the number of round trips completed in <seconds>. With six,
// it first ping-pongs for <warmup-seconds> (connections accepted, pools and caches warm), then
// measures for <seconds> and prints one line:
//
//   <round trips> <elapsed s> <server CPU s> <client CPU s>
//
// where server CPU is the growth of utime+stime (fields 14 and 15 of /proc/<server-pid>/stat,
// all threads, divided by CLK_TCK) over exactly the measured interval, and client CPU is this
// process's own (getrusage) over the same interval.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

// utime + stime of a process in seconds, or -1.
static double process_cpu(int pid) {
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *p = strrchr(text, ')');  // the command name may contain spaces
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    // after ")": field 3 (state) ... field 14 (utime), field 15 (stime)
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double own_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 7) { fprintf(stderr, "usage: echo-client port connections size seconds [warmup-seconds server-pid]\n"); return 2; }
    int port = atoi(argv[1]), n = atoi(argv[2]), size = atoi(argv[3]);
    double seconds = atof(argv[4]);
    double warmup = argc == 7 ? atof(argv[5]) : 0;
    int server = argc == 7 ? atoi(argv[6]) : 0;
    if (n <= 0 || size <= 0 || seconds <= 0) { fprintf(stderr, "echo-client: connections, size and seconds must be positive\n"); return 2; }
    int ep = epoll_create1(0);
    int *received = calloc(n, sizeof(int));
    char *message = malloc(size), *buffer = malloc(65536);
    memset(message, 'x', size);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    int one = 1;
    int *fds = calloc(n, sizeof(int));
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) { perror("socket"); return 1; }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) { perror("connect"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fds[i] = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        if (write(fd, message, size) != size) { perror("write"); return 1; }
    }
    long long trips = 0, trips0 = 0;
    double start = now(), measure = start + warmup, end = measure + seconds;
    double server0 = 0, client0 = 0, t0 = start;
    int measuring = warmup <= 0;
    if (measuring && server) { server0 = process_cpu(server); client0 = own_cpu(); }
    struct epoll_event events[256];
    double t;
    while ((t = now()) < end) {
        if (!measuring && t >= measure) {
            measuring = 1;
            trips0 = trips;
            t0 = t;
            server0 = process_cpu(server);
            client0 = own_cpu();
            if (server0 < 0) { fprintf(stderr, "echo-client: cannot read /proc/%d/stat\n", server); return 1; }
        }
        int k = epoll_wait(ep, events, 256, 100);
        for (int e = 0; e < k; e++) {
            int i = events[e].data.u32;
            ssize_t r = read(fds[i], buffer, 65536);
            if (r <= 0) { fprintf(stderr, "connection %d closed: %s\n", i, r ? strerror(errno) : "eof"); return 1; }
            received[i] += (int)r;
            while (received[i] >= size) {
                received[i] -= size;
                trips++;
                if (write(fds[i], message, size) != size) { perror("write"); return 1; }
            }
        }
    }
    if (server) {
        double server1 = process_cpu(server), client1 = own_cpu(), t1 = now();
        if (server1 < 0) { fprintf(stderr, "echo-client: server %d is gone\n", server); return 1; }
        printf("%lld %.6f %.6f %.6f\n", trips - trips0, t1 - t0, server1 - server0, client1 - client0);
    } else {
        printf("%lld\n", trips);
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    return 0;
}
