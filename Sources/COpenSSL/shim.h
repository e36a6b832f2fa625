// OpenSSL's libcrypto (Debian's libssl-dev), for the few digests the HTTP layer needs (the
// WebSocket handshake's SHA-1). Only the EVP interface, which OpenSSL 3 does not deprecate.
#include <openssl/evp.h>
