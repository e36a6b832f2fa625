// The peer for `make bench-io`: a minimal single-threaded liburing echo server written the way
// liburing's examples do it — multishot accept, recv into a provided buffer ring, send, re-arm.
// It is the per-core upper bound Spindle's echo server is compared with.
//
//   c-echo-server <port>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { ENTRIES = 4096, BUFFERS = 4096, BUFFER_SIZE = 16384, GROUP = 1 };
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

// user_data: op in the low 8 bits, fd above; sends carry the buffer id in bits 32..47.
static inline uint64_t encode(int op, int fd, int bid) { return (uint64_t)op | ((uint64_t)fd << 8) | ((uint64_t)bid << 32); }

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *buffers;

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) { io_uring_submit(&ring); sqe = io_uring_get_sqe(&ring); }
    return sqe;
}

static void submit_recv(int fd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv(sqe, fd, NULL, BUFFER_SIZE, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    sqe->user_data = encode(OP_RECV, fd, 0);
}

static void recycle(int bid) {
    io_uring_buf_ring_add(br, buffers + (size_t)bid * BUFFER_SIZE, BUFFER_SIZE, bid, io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(br, 1);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7100;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 4096)) { perror("bind/listen"); return 1; }

    struct io_uring_params params = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
    if (io_uring_queue_init_params(ENTRIES, &ring, &params) < 0) { perror("io_uring"); return 1; }
    if (posix_memalign((void **)&br, 4096, BUFFERS * sizeof(struct io_uring_buf))) return 1;
    buffers = malloc((size_t)BUFFERS * BUFFER_SIZE);
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)br, .ring_entries = BUFFERS, .bgid = GROUP };
    if (io_uring_register_buf_ring(&ring, &reg, 0)) { fprintf(stderr, "buf ring\n"); return 1; }
    for (int i = 0; i < BUFFERS; i++) recycle(i);

    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
    sqe->user_data = encode(OP_ACCEPT, listener, 0);
    printf("c-echo-server listening on 127.0.0.1:%d\n", port);
    fflush(stdout);

    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, count = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            count++;
            int op = cqe->user_data & 0xff;
            int fd = (int)((cqe->user_data >> 8) & 0xffffff);
            int res = cqe->res;
            if (op == OP_ACCEPT) {
                if (res >= 0) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    submit_recv(res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    sqe = sqe_get();
                    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
                    sqe->user_data = encode(OP_ACCEPT, listener, 0);
                }
            } else if (op == OP_RECV) {
                if (res <= 0) {
                    if (res == -ENOBUFS) { submit_recv(fd); continue; }
                    if (cqe->flags & IORING_CQE_F_BUFFER) recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    close(fd);
                    continue;
                }
                int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                sqe = sqe_get();
                io_uring_prep_send(sqe, fd, buffers + (size_t)bid * BUFFER_SIZE, res, MSG_NOSIGNAL);
                sqe->user_data = encode(OP_SEND, fd, bid);
            } else if (op == OP_SEND) {
                recycle((int)(cqe->user_data >> 32));
                if (res < 0) { close(fd); continue; }
                submit_recv(fd);  // short sends are not expected for small echo messages on loopback
            }
        }
        io_uring_cq_advance(&ring, count);
    }
}
