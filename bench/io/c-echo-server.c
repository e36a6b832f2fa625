// The peer for `make bench-io`: a minimal single-threaded liburing echo server written the way
// liburing's examples do it — multishot accept, recv into a provided buffer ring, send, re-arm
// (the shared set-up is in ../lib/uring_peer.h). It is the per-core upper bound Spindle's echo
// server is compared with.
//
//   c-echo-server <port>
#include <errno.h>
#include <unistd.h>

#include "../lib/uring_peer.h"

int main(int argc, char **argv) {
    int listener = peer_start("c-echo-server", argc > 1 ? atoi(argv[1]) : 7100);
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
                if (connection >= 0) submit_recv(connection);
                break;
            }
            case OP_RECV: {
                if (res <= 0) {
                    if (res == -ENOBUFS) { submit_recv(fd); break; }
                    if (cqe->flags & IORING_CQE_F_BUFFER) recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    close(fd);
                    break;
                }
                int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                struct io_uring_sqe *sqe = sqe_get();
                io_uring_prep_send(sqe, fd, peer_buffer(bid), res, MSG_NOSIGNAL);
                sqe->user_data = peer_user_data(OP_SEND, fd) | ((uint64_t)bid << 32);  // the buffer, to recycle
                break;
            }
            case OP_SEND:
                recycle((int)(cqe->user_data >> 32));
                if (res < 0) { close(fd); break; }
                submit_recv(fd);  // short sends are not expected for small echo messages on loopback
                break;
            }
        }
        io_uring_cq_advance(&ring, count);
    }
}
