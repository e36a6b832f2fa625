// The per-core upper bound for `make -C bench http`: a bare liburing HTTP/1.1
// responder that does only what the plaintext benchmark needs. Multishot accept; a recv into a
// provided buffer ring per connection; the received bytes are scanned for complete request heads
// (`\r\n\r\n`, with the partial match carried across recvs so a head split between two reads
// counts once); that many canned `200 OK` plaintext responses go out in one send (from a static
// buffer of identical responses back to back; short sends are finished before the next recv);
// then the recv is re-armed. No parsing, no routing, no allocation per request. The response has
// the same fields as Spindle's and nginx's (Server, Date, Content-Type, Content-Length), with a
// fixed Date of the real length. The set-up it shares with bench/io/c-echo-server.c is in
// ../lib/uring_peer.h.
//
// With a thread count above 1 it runs that many such responders in one process, each with its
// own ring, buffers and listener on the same port (SO_REUSEPORT): share-nothing threads, the
// floor against which Spindle's workers are compared (two threads ÷ one on the same CPUs).
//
//   c-http-server <port> [threads]
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "../lib/uring_peer.h"

enum { MAX_FD = 65536 };
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

static char *canned;
static struct conn conns[MAX_FD];

static void submit_send(int fd) {
    struct conn *c = &conns[fd];
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, fd, canned + c->sent, c->inflight - c->sent, MSG_NOSIGNAL);
    sqe->user_data = peer_user_data(OP_SEND, fd);
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

static int port = 7400;

// One responder: its own listener and ring, serving the connections it accepts, forever.
// (Connections are indexed by descriptor in `conns`, which descriptors being unique in the
// process lets the threads share: each connection belongs to the thread that accepted it.)
static void *serve(void *unused) {
    (void)unused;
    int listener = peer_start("c-http-server", port);

    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, count = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            count++;
            int fd = peer_fd(cqe), res = cqe->res;
            switch (peer_op(cqe)) {
            case OP_ACCEPT: {
                int connection = peer_accepted(cqe, listener);
                if (connection < 0) break;
                if (connection >= MAX_FD) { close(connection); break; }
                memset(&conns[connection], 0, sizeof(conns[connection]));
                submit_recv(connection);
                break;
            }
            case OP_RECV: {
                if (res <= 0) {
                    if (res == -ENOBUFS) { submit_recv(fd); break; }
                    if (cqe->flags & IORING_CQE_F_BUFFER) recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    close_conn(fd);
                    break;
                }
                int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                struct conn *c = &conns[fd];
                c->owed += count_heads(peer_buffer(bid), (size_t)res, &c->matched);
                recycle(bid);
                next(fd);
                break;
            }
            case OP_SEND: {
                if (res < 0) { close_conn(fd); break; }
                struct conn *c = &conns[fd];
                c->sent += (size_t)res;
                if (c->sent < c->inflight) submit_send(fd);  // short send: the rest first
                else next(fd);
                break;
            }
            }
        }
        io_uring_cq_advance(&ring, count);
    }
    return NULL;
}

int main(int argc, char **argv) {
    canned = malloc(CANNED * RESPONSE_LEN);
    for (int i = 0; i < CANNED; i++) memcpy(canned + (size_t)i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
    if (argc > 1) port = atoi(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1 || threads > 64) { fprintf(stderr, "c-http-server: threads must be 1...64\n"); return 2; }
    for (int i = 1; i < threads; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, NULL)) { perror("pthread_create"); return 1; }
    }
    serve(NULL);
    return 0;
}
