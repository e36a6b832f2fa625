// The set-up every liburing peer in bench/ shares (bench/io/c-echo-server.c,
// bench/http/c-http-server.c), written the way liburing's examples do it: a loopback listener,
// one ring (single issuer, deferred task work), a provided buffer ring of `PEER_BUFFERS` buffers
// of `PEER_BUFFER_SIZE` bytes in group `PEER_GROUP`, multishot accept, buffer-selecting recv.
// The ring and its buffers are per thread: a peer that runs several threads calls `peer_start`
// on each, and each gets a listener of its own on the same port (SO_REUSEPORT, as Spindle's
// workers do) — threads that share nothing but the process.
// Header-only (static inline), so each peer stays one `gcc -O2 file.c -luring` away.
// user_data layout: the op in the low 8 bits, the fd in bits 8..31; bits 32.. are the peer's.
#ifndef URING_PEER_H
#define URING_PEER_H

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

enum { PEER_ENTRIES = 4096, PEER_BUFFERS = 4096, PEER_BUFFER_SIZE = 16384, PEER_GROUP = 1 };
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

static __thread struct io_uring ring;
static __thread struct io_uring_buf_ring *buffer_ring;
static __thread char *buffers;

static inline uint64_t peer_user_data(int op, int fd) { return (uint64_t)op | ((uint64_t)fd << 8); }
static inline int peer_op(const struct io_uring_cqe *cqe) { return (int)(cqe->user_data & 0xff); }
static inline int peer_fd(const struct io_uring_cqe *cqe) { return (int)((cqe->user_data >> 8) & 0xffffff); }

/// The next free SQE, submitting what is queued when the submission queue is full.
static inline struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) { io_uring_submit(&ring); sqe = io_uring_get_sqe(&ring); }
    return sqe;
}

/// Buffer `bid` of the provided buffer ring.
static inline char *peer_buffer(int bid) { return buffers + (size_t)bid * PEER_BUFFER_SIZE; }

/// Gives buffer `bid` back to the kernel.
static inline void recycle(int bid) {
    io_uring_buf_ring_add(buffer_ring, peer_buffer(bid), PEER_BUFFER_SIZE, bid, io_uring_buf_ring_mask(PEER_BUFFERS), 0);
    io_uring_buf_ring_advance(buffer_ring, 1);
}

/// Queues one recv on `fd` into a buffer the kernel picks from the ring.
static inline void submit_recv(int fd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv(sqe, fd, NULL, PEER_BUFFER_SIZE, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = PEER_GROUP;
    sqe->user_data = peer_user_data(OP_RECV, fd);
}

static inline void submit_accept(int listener) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
    sqe->user_data = peer_user_data(OP_ACCEPT, listener);
}

/// Listens on 127.0.0.1:`port`, sets up the ring and the buffer ring, arms the multishot accept
/// and prints "`name` listening on 127.0.0.1:`port`". Returns the listener; exits on failure.
static inline int peer_start(const char *name, int port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 4096)) { perror("bind/listen"); exit(1); }

    struct io_uring_params params = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
    if (io_uring_queue_init_params(PEER_ENTRIES, &ring, &params) < 0) { perror("io_uring"); exit(1); }
    if (posix_memalign((void **)&buffer_ring, 4096, PEER_BUFFERS * sizeof(struct io_uring_buf))) exit(1);
    buffers = malloc((size_t)PEER_BUFFERS * PEER_BUFFER_SIZE);
    io_uring_buf_ring_init(buffer_ring);
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)buffer_ring, .ring_entries = PEER_BUFFERS, .bgid = PEER_GROUP };
    if (io_uring_register_buf_ring(&ring, &reg, 0)) { fprintf(stderr, "buf ring\n"); exit(1); }
    for (int i = 0; i < PEER_BUFFERS; i++) recycle(i);

    submit_accept(listener);
    printf("%s listening on 127.0.0.1:%d\n", name, port);
    fflush(stdout);
    return listener;
}

/// Handles an accept CQE: returns the new connection (TCP_NODELAY set) or -1, and re-arms the
/// multishot accept when the kernel ended it.
static inline int peer_accepted(const struct io_uring_cqe *cqe, int listener) {
    int fd = cqe->res;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) submit_accept(listener);
    return fd >= 0 ? fd : -1;
}

#endif
