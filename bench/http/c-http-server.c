// The per-core upper bound for `make -C bench http`: a bare single-threaded liburing HTTP/1.1
// responder that does only what the plaintext benchmark needs. Multishot accept; a recv into a
// provided buffer ring per connection; the received bytes are scanned for complete request heads
// (`\r\n\r\n`, with the partial match carried across recvs so a head split between two reads
// counts once); that many canned `200 OK` plaintext responses go out in one send (from a static
// buffer of identical responses back to back; short sends are finished before the next recv);
// then the recv is re-armed. No parsing, no routing, no allocation per request. The response has
// the same fields as Spindle's and nginx's (Server, Date, Content-Type, Content-Length), with a
// fixed Date of the real length.
//
//   c-http-server <port>
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

enum { ENTRIES = 4096, BUFFERS = 4096, BUFFER_SIZE = 16384, GROUP = 1, MAX_FD = 65536 };
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
enum { CANNED = 1024 };  // responses in the static send buffer; larger batches go out in turns

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: C\r\n"
    "Date: Wed, 25 Nov 2026 17:00:00 GMT\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)

struct conn {
    uint8_t matched;  // bytes of "\r\n\r\n" matched at the end of the previous recv (0...3)
    uint64_t owed;    // responses not yet handed to a send
    size_t inflight;  // bytes of the current send
    size_t sent;      // bytes of the current send already sent (short sends)
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *buffers;
static char *canned;
static struct conn conns[MAX_FD];

static inline uint64_t encode(int op, int fd) { return (uint64_t)op | ((uint64_t)fd << 8); }

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
    sqe->user_data = encode(OP_RECV, fd);
}

static void submit_send(int fd) {
    struct conn *c = &conns[fd];
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, fd, canned + c->sent, c->inflight - c->sent, MSG_NOSIGNAL);
    sqe->user_data = encode(OP_SEND, fd);
}

// Starts the next send of owed responses, or re-arms the recv when none are owed.
static void next(int fd) {
    struct conn *c = &conns[fd];
    if (c->owed == 0) { submit_recv(fd); return; }
    uint64_t n = c->owed < CANNED ? c->owed : CANNED;
    c->owed -= n;
    c->inflight = n * RESPONSE_LEN;
    c->sent = 0;
    submit_send(fd);
}

static void recycle(int bid) {
    io_uring_buf_ring_add(br, buffers + (size_t)bid * BUFFER_SIZE, BUFFER_SIZE, bid, io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(br, 1);
}

// Counts "\r\n\r\n" in p[0..<n], continuing a match carried in *matched.
static uint64_t count_heads(const char *p, size_t n, uint8_t *matched) {
    static const char END[4] = { '\r', '\n', '\r', '\n' };
    uint64_t heads = 0;
    uint8_t m = *matched;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == END[m]) {
            if (++m == 4) { heads++; m = 0; }
        } else {
            m = ch == '\r' ? 1 : 0;
        }
    }
    *matched = m;
    return heads;
}

static void close_conn(int fd) {
    memset(&conns[fd], 0, sizeof(conns[fd]));
    close(fd);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7400;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 4096)) { perror("bind/listen"); return 1; }

    canned = malloc(CANNED * RESPONSE_LEN);
    for (int i = 0; i < CANNED; i++) memcpy(canned + (size_t)i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

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
    sqe->user_data = encode(OP_ACCEPT, listener);
    printf("c-http-server listening on 127.0.0.1:%d\n", port);
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
                    if (res >= MAX_FD) { close(res); continue; }
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    memset(&conns[res], 0, sizeof(conns[res]));
                    submit_recv(res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    sqe = sqe_get();
                    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
                    sqe->user_data = encode(OP_ACCEPT, listener);
                }
            } else if (op == OP_RECV) {
                if (res <= 0) {
                    if (res == -ENOBUFS) { submit_recv(fd); continue; }
                    if (cqe->flags & IORING_CQE_F_BUFFER) recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    close_conn(fd);
                    continue;
                }
                int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                struct conn *c = &conns[fd];
                c->owed += count_heads(buffers + (size_t)bid * BUFFER_SIZE, (size_t)res, &c->matched);
                recycle(bid);
                next(fd);
            } else if (op == OP_SEND) {
                if (res < 0) { close_conn(fd); continue; }
                struct conn *c = &conns[fd];
                c->sent += (size_t)res;
                if (c->sent < c->inflight) submit_send(fd);  // short send: the rest first
                else next(fd);
            }
        }
        io_uring_cq_advance(&ring, count);
    }
}
