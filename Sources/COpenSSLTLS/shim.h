// OpenSSL's libssl (Debian's libssl-dev) for TLS termination, imported by SpindleTLS only
// (TLSContext.swift and TLSStream.swift, `internal import`; .ci/check-c-crossings checks it).
// The few OpenSSL entry points that are macros, which Swift cannot import, are wrapped below as
// `static inline` functions prefixed `spindle_tls_`.
#ifndef SPINDLE_TLS_SHIM_H
#define SPINDLE_TLS_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/tls.h>

/// SSL_CTX_set_min_proto_version / SSL_CTX_set_max_proto_version (macros).
static inline int spindle_tls_ctx_set_proto_versions(SSL_CTX *ctx, int min, int max) {
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}

/// The server's options (their values are macros Swift cannot import): the server's cipher
/// order, no renegotiation, and a peer's close without close_notify read as an end of stream
/// (HTTP's own framing says whether a message was complete).
static inline void spindle_tls_ctx_set_server_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
}

/// No session resumption: no server-side cache (SSL_CTX_set_session_cache_mode is a macro),
/// no TLS 1.3 tickets and no TLS 1.2 tickets.
static inline void spindle_tls_ctx_disable_resumption(SSL_CTX *ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
}

/// SSL_CTX_set_mode (a macro).
static inline void spindle_tls_ctx_set_mode(SSL_CTX *ctx, long mode) { SSL_CTX_set_mode(ctx, mode); }

/// The server's ALPN choice: "http/1.1" when the client offers it; otherwise no ALPN extension
/// in the answer (the client may still speak HTTP/1.1, as clients without ALPN do).
static int spindle_tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                   const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char server[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, outlen, server, sizeof server, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/// Installs `spindle_tls_alpn_select` on `ctx`.
static inline void spindle_tls_ctx_enable_alpn_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, spindle_tls_alpn_select, NULL);
}

/// The server-name (SNI) callback's type.
typedef int (*spindle_tls_servername_callback)(SSL *ssl, int *alert, void *arg);

/// SSL_CTX_set_tlsext_servername_callback and _arg (macros).
static inline void spindle_tls_ctx_set_servername_callback(SSL_CTX *ctx, spindle_tls_servername_callback callback, void *arg) {
    SSL_CTX_set_tlsext_servername_callback(ctx, callback);
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

/// BIO_set_mem_eof_return (a macro): what reading an empty memory BIO returns (0: end of stream).
static inline void spindle_tls_bio_set_mem_eof_return(BIO *bio, int value) { BIO_set_mem_eof_return(bio, value); }

/// SSL_set_tlsext_host_name (a macro): the name sent for SNI by a client.
static inline int spindle_tls_set_server_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }

/// The client's verification: the peer's certificate must verify (SSL_VERIFY_PEER is a macro).
static inline void spindle_tls_ctx_verify_peer(SSL_CTX *ctx) { SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); }

/// The client's options: no renegotiation, and a peer's close without close_notify read as an
/// end of stream (HTTP's own framing says whether a message was complete).
static inline void spindle_tls_ctx_set_client_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
}

/// The client's ALPN offer: "http/1.1".
static inline int spindle_tls_ctx_offer_alpn_http11(SSL_CTX *ctx) {
    static const unsigned char protocols[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
    return SSL_CTX_set_alpn_protos(ctx, protocols, sizeof protocols);  // 0 on success
}

// MARK: - kTLS: the transmit side of the record layer handed to the kernel
//
// A filter BIO that OpenSSL writes its records through (`SSL_set_bio(ssl, incoming, filter)`,
// the filter pushed on the memory BIO that TLSStream drains). Without kTLS it only passes the
// bytes on. OpenSSL (built with kTLS, SSL_OP_ENABLE_KTLS set on the connection) asks a BIO to
// take over encryption when it switches to the application write keys: it flushes the BIO,
// then sends it the kernel's crypto info (`BIO_CTRL_SET_KTLS`, key, IV, salt and the record
// sequence number it has reached). The filter attaches the `tls` upper-layer protocol and sets
// `TLS_TX` on the socket; from then on OpenSSL hands it plaintext, and the kernel frames and
// encrypts what is sent on the socket. Invariants:
//  - bytes reach the socket in the order OpenSSL wrote them: the filter itself sends (with
//    MSG_DONTWAIT, never blocking the thread) only while `direct` is set, which TLSStream does
//    only while no send of its own is in flight (the handshake, and close under its output lock),
//    and only after what waits in the memory BIO has gone first;
//  - `TLS_TX` is set only once the memory BIO is empty (every byte encrypted in user space is on
//    the socket): otherwise the filter refuses and OpenSSL keeps building records itself;
//  - the receive side is never handed over (the filter refuses it): TLSStream reads ahead into
//    the memory BIO, so OpenSSL could not say which records the kernel would see first;
//  - a record that is not application data (a ticket, an alert) is sent with its type in a
//    control message (`TLS_SET_RECORD_TYPE`), as OpenSSL's socket BIO does; a KeyUpdate is
//    refused (the kernel keeps the keys it was given): it fails that one connection.

/// OpenSSL's BIO controls for kTLS (internal in its headers, stable in 3.x: bio.h lists them).
#define SPINDLE_BIO_CTRL_SET_KTLS 72
#define SPINDLE_BIO_CTRL_SET_KTLS_TX_SEND_CTRL_MSG 74
#define SPINDLE_BIO_CTRL_CLEAR_KTLS_TX_CTRL_MSG 75

/// The filter's state (the BIO's data).
typedef struct spindle_ktls_filter {
    int fd;
    /// 1 once the kernel builds the records (TLS_TX set).
    int transmitting;
    /// The record type OpenSSL announced for its next write (0: application data).
    int record_type;
    /// 1 while the filter may send on the socket itself (see the invariants).
    int direct;
    /// Why the kernel did not take over (an errno; EBUSY: ciphertext was still unsent), 0
    /// when it did or was never asked.
    int refusal;
    /// 1 after a typed send the socket took only part of: the next write is its rest.
    int continuing;
} spindle_ktls_filter;

/// Sends what waits in `next` (a memory BIO) on the socket, without blocking. Returns 1 when
/// nothing is left, 0 when the socket took only part (the rest stays, in order), -1 on an error.
static int spindle_ktls_send_pending(spindle_ktls_filter *filter, BIO *next) {
    while (BIO_ctrl_pending(next) > 0) {
        char *data = NULL;
        long available = BIO_get_mem_data(next, &data);
        if (available <= 0 || data == NULL) return 1;
        ssize_t sent = send(filter->fd, data, (size_t)available, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        char discard[4096];
        for (ssize_t left = sent; left > 0;) {
            int chunk = left < (ssize_t)sizeof discard ? (int)left : (int)sizeof discard;
            int read = BIO_read(next, discard, chunk);
            if (read <= 0) return -1;
            left -= read;
        }
        if (sent < available) return 0;
    }
    return 1;
}

/// Sends one non-application record (its type in a control message) on a kTLS socket.
static int spindle_ktls_send_typed(spindle_ktls_filter *filter, const char *data, int length) {
    union { struct cmsghdr align; char bytes[CMSG_SPACE(sizeof(unsigned char))]; } control;  // aligned for cmsghdr
    memset(&control, 0, sizeof control);
    struct iovec vector = { .iov_base = (void *)data, .iov_len = (size_t)length };
    struct msghdr message = { 0 };
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_TLS;
    header->cmsg_type = TLS_SET_RECORD_TYPE;
    header->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(header) = (unsigned char)filter->record_type;
    return (int)sendmsg(filter->fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int spindle_ktls_write(BIO *bio, const char *data, int length) {
    spindle_ktls_filter *filter = (spindle_ktls_filter *)BIO_get_data(bio);
    BIO *next = BIO_next(bio);
    BIO_clear_retry_flags(bio);
    if (filter == NULL || next == NULL) return -1;
    if (!filter->transmitting || filter->record_type == 0) return BIO_write(next, data, length);
    // A record of another type than application data, for the kernel to frame.
    if (!filter->continuing && filter->record_type == SSL3_RT_HANDSHAKE && length > 0
        && (unsigned char)data[0] == SSL3_MT_KEY_UPDATE) {
        return -1;  // the kernel keeps the keys it was given: this connection fails
    }
    if (!filter->direct) return -1;  // a send of the stream's own may be in flight
    int pending = spindle_ktls_send_pending(filter, next);
    if (pending < 0) return -1;
    if (pending == 0) { BIO_set_retry_write(bio); return -1; }
    int sent = spindle_ktls_send_typed(filter, data, length);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) { BIO_set_retry_write(bio); return -1; }
    // The type holds until the record is sent whole: OpenSSL announces it again before the
    // rest of a record, but its buffering BIO (during the handshake) sends the rest without.
    if (sent >= 0) {
        filter->continuing = sent < length;
        if (!filter->continuing) filter->record_type = 0;
    }
    return sent;
}

static int spindle_ktls_read(BIO *bio, char *data, int length) {
    BIO *next = BIO_next(bio);
    return next == NULL ? -1 : BIO_read(next, data, length);
}

/// The length of the kernel's crypto info for its cipher, 0 for one the kernel was not asked
/// to take (OpenSSL checks the cipher first; this keeps the filter from trusting a length).
static size_t spindle_ktls_crypto_info_length(const struct tls_crypto_info *info) {
    switch (info->cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return sizeof(struct tls12_crypto_info_aes_gcm_128);
    case TLS_CIPHER_AES_GCM_256: return sizeof(struct tls12_crypto_info_aes_gcm_256);
    case TLS_CIPHER_AES_CCM_128: return sizeof(struct tls12_crypto_info_aes_ccm_128);
    case TLS_CIPHER_CHACHA20_POLY1305: return sizeof(struct tls12_crypto_info_chacha20_poly1305);
    default: return 0;
    }
}

static long spindle_ktls_ctrl(BIO *bio, int command, long number, void *pointer) {
    spindle_ktls_filter *filter = (spindle_ktls_filter *)BIO_get_data(bio);
    BIO *next = BIO_next(bio);
    if (filter == NULL || next == NULL) return 0;
    switch (command) {
    case BIO_CTRL_FLUSH:
        // Before a switch of write keys: what is buffered goes out now when the filter may send
        // (the switch to the kernel needs it gone); otherwise TLSStream sends it.
        if (filter->direct && !filter->transmitting) (void)spindle_ktls_send_pending(filter, next);
        return 1;
    case SPINDLE_BIO_CTRL_SET_KTLS: {
        const struct tls_crypto_info *info = (const struct tls_crypto_info *)pointer;
        if (number == 0 || info == NULL) return 0;  // the receive side stays in user space
        if (!filter->direct || BIO_ctrl_pending(next) > 0) { filter->refusal = EBUSY; return 0; }
        size_t length = spindle_ktls_crypto_info_length(info);
        if (length == 0) { filter->refusal = ENOPROTOOPT; return 0; }
        if (setsockopt(filter->fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls") != 0) { filter->refusal = errno; return 0; }
        if (setsockopt(filter->fd, SOL_TLS, TLS_TX, info, (socklen_t)length) != 0) { filter->refusal = errno; return 0; }
        filter->transmitting = 1;
        filter->refusal = 0;
        return 1;
    }
    case BIO_CTRL_GET_KTLS_SEND:
        return filter->transmitting;
    case BIO_CTRL_GET_KTLS_RECV:
        return 0;
    case SPINDLE_BIO_CTRL_SET_KTLS_TX_SEND_CTRL_MSG:
        if (filter->record_type != (int)number) filter->continuing = 0;
        filter->record_type = (int)number;
        return 0;
    case SPINDLE_BIO_CTRL_CLEAR_KTLS_TX_CTRL_MSG:
        filter->record_type = 0;
        filter->continuing = 0;
        return 0;
    default:
        return BIO_ctrl(next, command, number, pointer);
    }
}

static int spindle_ktls_create(BIO *bio) {
    spindle_ktls_filter *filter = (spindle_ktls_filter *)OPENSSL_zalloc(sizeof(spindle_ktls_filter));
    if (filter == NULL) return 0;
    filter->fd = -1;
    BIO_set_data(bio, filter);
    BIO_set_init(bio, 1);
    return 1;
}

static int spindle_ktls_destroy(BIO *bio) {
    OPENSSL_free(BIO_get_data(bio));
    BIO_set_data(bio, NULL);
    return 1;
}

/// The filter's method table (make it once per process: Swift keeps it in a `static let`).
static inline BIO_METHOD *spindle_tls_ktls_method_new(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER, "spindle kTLS filter");
    if (method == NULL) return NULL;
    BIO_meth_set_write(method, spindle_ktls_write);
    BIO_meth_set_read(method, spindle_ktls_read);
    BIO_meth_set_ctrl(method, spindle_ktls_ctrl);
    BIO_meth_set_create(method, spindle_ktls_create);
    BIO_meth_set_destroy(method, spindle_ktls_destroy);
    return method;
}

/// A filter for socket `fd` pushed on `next` (which it then owns: freeing the filter with
/// BIO_free_all frees both). NULL when out of memory.
static inline BIO *spindle_tls_ktls_filter_new(BIO_METHOD *method, int fd, BIO *next) {
    BIO *bio = BIO_new(method);
    if (bio == NULL) return NULL;
    ((spindle_ktls_filter *)BIO_get_data(bio))->fd = fd;
    return BIO_push(bio, next);
}

/// Whether the filter may send on the socket itself (1 while its owner has no send in flight).
static inline void spindle_tls_ktls_filter_set_direct(BIO *bio, int direct) {
    ((spindle_ktls_filter *)BIO_get_data(bio))->direct = direct;
}

/// 1 once the kernel builds the records sent on the socket.
static inline int spindle_tls_ktls_filter_transmitting(BIO *bio) {
    return ((spindle_ktls_filter *)BIO_get_data(bio))->transmitting;
}

/// Why the kernel was not given the records (an errno; 0 when it was, or OpenSSL never asked).
static inline int spindle_tls_ktls_filter_refusal(BIO *bio) {
    return ((spindle_ktls_filter *)BIO_get_data(bio))->refusal;
}

/// SSL_set_options(ssl, SSL_OP_ENABLE_KTLS) (a macro value): OpenSSL offers the BIO the
/// record layer when it can.
static inline void spindle_tls_enable_ktls(SSL *ssl) { SSL_set_options(ssl, SSL_OP_ENABLE_KTLS); }

#endif
