// The load generator for `make bench-io`: `connections` TCP connections to 127.0.0.1:<port>,
// each sending a `size`-byte message and waiting for its echo, for `seconds`; prints the
// number of round trips. One thread, epoll, so it loads the server the same way for every peer.
//
//   echo-client <port> <connections> <size> <seconds>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: echo-client port connections size seconds\n"); return 2; }
    int port = atoi(argv[1]), n = atoi(argv[2]), size = atoi(argv[3]);
    double seconds = atof(argv[4]);
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
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) { perror("connect"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fds[i] = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        if (write(fd, message, size) != size) { perror("write"); return 1; }
    }
    long long trips = 0;
    double end = now() + seconds;
    struct epoll_event events[256];
    while (now() < end) {
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
    printf("%lld\n", trips);
    for (int i = 0; i < n; i++) close(fds[i]);
    return 0;
}
