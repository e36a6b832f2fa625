// The load generator of `make bench-scale` (HTTP part): many concurrent requests, each held open
// by the server for a while. One thread, epoll, 127.0.0.x only.
//
//   hold-client <port> <connections> <ms> <rounds> <timeout-s> <server-pid>
//
// 1. Opens <connections> keep-alive connections to 127.0.0.1:<port>. One source address gives
//    at most the ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range, 28k here) to one
//    destination, so sockets are bound to 127.0.0.2, 127.0.0.3, … (SOURCE_SPAN connections
//    each, IP_BIND_ADDRESS_NO_PORT so the port is picked at connect time). At most
//    MAX_CONNECTING handshakes are in flight, so the server's listen backlog never overflows.
// 2. Waits SETTLE_S so the server has accepted them, then every connection sends
//    `GET /sleep?ms=<ms>` and, on each 200 response, the next one, <rounds> requests in all:
//    <connections> requests are in flight at once, each parked in a handler for <ms> ms.
// 3. Samples the server's VmRSS (/proc/<server-pid>/status) before connecting, after the
//    settle, and every RSS_PERIOD_S during the load, keeping the sample taken with the most
//    requests in flight (rss_full; the latest of equals) and the largest (rss_peak), and records
//    every request's latency (request written → whole response read).
// Stops when every connection has made its <rounds> requests, or <timeout-s> after the first
// connect (requests left over are reported as unfinished). Closes with RST (SO_LINGER 0) so no
// TIME_WAIT is left behind. Needs RLIMIT_NOFILE above <connections> (raised here if the hard
// limit allows). Prints one line of key=value pairs (see print_result) and exits 0, or 1 when
// the setup failed (no connection at all, a bad argument).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { SOURCE_SPAN = 10000, MAX_CONNECTING = 256, BUFFER = 1024, EVENTS = 1024 };
static const double SETTLE_S = 0.5, RSS_PERIOD_S = 0.1;

enum state { CONNECTING, IDLE, WAITING, FINISHED, DEAD };

struct connection {
    int fd;
    enum state state;
    int rounds;        // requests answered
    double sent_at;    // when the current request was written
    int have;          // bytes of the current response in buf
    char buf[BUFFER];
};

static struct connection *connections;
static int count, rounds_wanted, epfd;
static char request[128];
static int request_length;
static float *latencies_us;
static long answered, errors;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

// VmRSS of a process in bytes, or -1.
static long long resident_bytes(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

static void raise_fd_limit(int needed) {
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur >= (rlim_t)needed) return;
    if (r.rlim_max < (rlim_t)needed) r.rlim_max = needed;  // works as root (CAP_SYS_RESOURCE)
    r.rlim_cur = needed;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
        getrlimit(RLIMIT_NOFILE, &r);
        fprintf(stderr, "hold-client: RLIMIT_NOFILE is %llu, %d needed: raise `ulimit -n` (as root: ulimit -Hn)\n",
                (unsigned long long)r.rlim_cur, needed);
        exit(1);
    }
}

static void watch(struct connection *c, int op, uint32_t events) {
    struct epoll_event e = { .events = events, .data.ptr = c };
    if (epoll_ctl(epfd, op, c->fd, &e) != 0) { perror("hold-client: epoll_ctl"); exit(1); }
}

// Starts a non-blocking connect of connection i from 127.0.0.(2 + i / SOURCE_SPAN).
static int start_connect(int i, int port) {
    struct connection *c = &connections[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { perror("hold-client: socket"); exit(1); }
    int one = 1;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in source = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i / SOURCE_SPAN)) };
    struct sockaddr_in server = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(c->fd, (struct sockaddr *)&source, sizeof source) != 0 ||
        (connect(c->fd, (struct sockaddr *)&server, sizeof server) != 0 && errno != EINPROGRESS)) {
        close(c->fd);
        c->state = DEAD;
        return 0;
    }
    c->state = CONNECTING;
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
    return 1;
}

static void kill_connection(struct connection *c) {
    if (c->state == WAITING || c->state == IDLE) errors += rounds_wanted - c->rounds;
    struct linger hard = { 1, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(c->fd);
    c->state = DEAD;
}

static void send_request(struct connection *c) {
    c->sent_at = now();
    c->have = 0;
    if (write(c->fd, request, request_length) != request_length) { kill_connection(c); return; }
    c->state = WAITING;
}

// Length of the complete response at the start of c->buf (head + Content-Length body), 0 if
// more bytes are needed, -1 if it cannot be framed (no Content-Length, head too large).
static int response_length(struct connection *c, int *status) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end) return c->have >= BUFFER ? -1 : 0;
    int head = (int)(end - c->buf) + 4;
    *status = c->have > 12 ? atoi(c->buf + 9) : 0;
    long body = -1;
    for (char *line = c->buf; line < end; ) {
        char *next = memmem(line, end + 2 - line, "\r\n", 2);
        if (!next) break;
        if (next - line > 15 && strncasecmp(line, "content-length:", 15) == 0) body = strtol(line + 15, NULL, 10);
        line = next + 2;
    }
    if (body < 0 || head + body > BUFFER) return -1;
    return c->have >= head + body ? head + (int)body : 0;
}

static void on_readable(struct connection *c) {
    ssize_t n = read(c->fd, c->buf + c->have, BUFFER - c->have);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return;
        kill_connection(c);
        return;
    }
    c->have += (int)n;
    if (c->state != WAITING) { kill_connection(c); return; }  // bytes nobody asked for
    int status = 0, length = response_length(c, &status);
    if (length == 0) return;
    if (length < 0) { kill_connection(c); return; }
    if (status == 200) latencies_us[answered++] = (float)((now() - c->sent_at) * 1e6);
    else errors++;
    c->rounds++;
    if (c->rounds < rounds_wanted) send_request(c);
    else c->state = FINISHED;
}

static int by_value(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float percentile(double p) {
    if (answered == 0) return 0;
    long i = (long)(p * (double)(answered - 1) + 0.5);
    return latencies_us[i];
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: hold-client port connections ms rounds timeout-s server-pid\n"); return 2; }
    int port = atoi(argv[1]), ms = atoi(argv[3]), server = atoi(argv[6]);
    count = atoi(argv[2]);
    rounds_wanted = atoi(argv[4]);
    double timeout = atof(argv[5]);
    if (port <= 0 || count <= 0 || ms < 0 || rounds_wanted <= 0 || timeout <= 0) { fprintf(stderr, "hold-client: bad argument\n"); return 2; }
    raise_fd_limit(count + 64);
    request_length = snprintf(request, sizeof request, "GET /sleep?ms=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", ms);
    connections = calloc(count, sizeof *connections);
    latencies_us = calloc((size_t)count * rounds_wanted, sizeof *latencies_us);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!connections || !latencies_us || epfd < 0) { perror("hold-client: setup"); return 1; }
    struct epoll_event events[EVENTS];

    long long rss_base = resident_bytes(server);
    double begin = now(), deadline = begin + timeout;
    int next = 0, connecting = 0, connected = 0, connect_errors = 0;
    while ((next < count || connecting > 0) && now() < deadline) {
        while (next < count && connecting < MAX_CONNECTING) {
            if (start_connect(next++, port)) connecting++;
            else connect_errors++;
        }
        int n = epoll_wait(epfd, events, EVENTS, 100);
        for (int k = 0; k < n; k++) {
            struct connection *c = events[k].data.ptr;
            if (c->state != CONNECTING) { kill_connection(c); continue; }  // closed while idle
            connecting--;
            int error = 0;
            socklen_t length = sizeof error;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
            if (error) { connect_errors++; kill_connection(c); continue; }
            connected++;
            c->state = IDLE;
            watch(c, EPOLL_CTL_MOD, EPOLLIN);
        }
    }
    double connect_s = now() - begin;
    if (connected == 0) { fprintf(stderr, "hold-client: no connection to port %d\n", port); return 1; }

    // Settle: idle connections; a server that closes one shows up here as a readable socket.
    for (double until = now() + SETTLE_S; now() < until; ) {
        int n = epoll_wait(epfd, events, EVENTS, 50);
        for (int k = 0; k < n; k++) {
            struct connection *c = events[k].data.ptr;
            if (c->state == IDLE) kill_connection(c);
        }
    }
    long long rss_connected = resident_bytes(server), rss_full = rss_connected, rss_peak = rss_connected;
    long inflight_at_full = 0, inflight = 0;

    double start = now(), last_answer = start, next_sample = start + RSS_PERIOD_S;
    for (int i = 0; i < count; i++)
        if (connections[i].state == IDLE) send_request(&connections[i]);
    for (int i = 0; i < count; i++) inflight += connections[i].state == WAITING;
    while (inflight > 0 && now() < deadline) {
        int n = epoll_wait(epfd, events, EVENTS, 20);
        for (int k = 0; k < n; k++) {
            struct connection *c = events[k].data.ptr;
            long before = answered;
            int was_waiting = c->state == WAITING;
            on_readable(c);
            if (answered != before) last_answer = now();
            inflight += (c->state == WAITING) - was_waiting;
        }
        if (now() >= next_sample) {
            long long rss = resident_bytes(server);
            if (inflight >= inflight_at_full) { rss_full = rss; inflight_at_full = inflight; }
            if (rss > rss_peak) rss_peak = rss;
            next_sample += RSS_PERIOD_S;
        }
    }
    long unfinished = 0;
    for (int i = 0; i < count; i++) {
        struct connection *c = &connections[i];
        if (c->state == WAITING || c->state == IDLE) unfinished += rounds_wanted - c->rounds;
        if (c->state != DEAD) { c->state = FINISHED; kill_connection(c); }
    }
    qsort(latencies_us, answered, sizeof *latencies_us, by_value);
    double wall = last_answer - start;
    printf("connections=%d connected=%d connect_errors=%d connect_s=%.3f requests=%ld errors=%ld unfinished=%ld "
           "wall_s=%.3f req_per_s=%.1f p50_us=%.0f p99_us=%.0f max_us=%.0f rss_base=%lld rss_connected=%lld "
           "rss_full=%lld inflight_at_full=%ld rss_peak=%lld\n",
           count, connected, connect_errors, connect_s, answered, errors, unfinished, wall,
           wall > 0 ? answered / wall : 0.0, percentile(0.50), percentile(0.99), percentile(1.0),
           rss_base, rss_connected, rss_full, inflight_at_full, rss_peak);
    return 0;
}
