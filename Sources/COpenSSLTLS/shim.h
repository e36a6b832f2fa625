// OpenSSL's libssl (Debian's libssl-dev) for TLS termination, imported by SpindleTLS only
// (TLSContext.swift and TLSStream.swift, `internal import`; .ci/check-c-crossings checks it).
// The few OpenSSL entry points that are macros, which Swift cannot import, are wrapped below as
// `static inline` functions prefixed `spindle_tls_`.
#ifndef SPINDLE_TLS_SHIM_H
#define SPINDLE_TLS_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

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

#endif
