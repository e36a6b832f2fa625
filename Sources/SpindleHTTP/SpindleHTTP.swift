// SpindleHTTP: the HTTP/1.1 protocol core (RFC 9112), independent of I/O. The server layer feeds
// it bytes and writes what it produces; there are no sockets, fibers or Foundation here.
//
// Pieces, one concept per file:
//   HTTPRequestParser(+Fields)  incremental, zero-copy head parser (resumable state machine)
//   HTTPRequestHead             the parsed head: offsets into the caller's bytes
//   HTTPBodyDecoder             Content-Length / chunked / no body, one loop for the server
//   HTTPChunkedDecoder          chunked coding, streaming (slices) or in place
//   HTTPParseError              status + reason for every rejection; always closes
//   HTTPResponseParser(+Fields) the client side: response heads, same rules, safe slices
//   HTTPResponseHead            a parsed response head (owns its fields) and its body framing
//   HTTPResponseParseError      a reason for every rejected response head
//   HTTPLimits                  size limits, SPINDLE_HTTP_* overrides
//   HTTPResponseWriter          status line, fields, Date, framing, Connection
//   HTTPChunkedEncoder          chunked response bodies
//   HTTPOutputBuffer            growable, stable-address output bytes
//   HTTPDate                    IMF-fixdate without Foundation, cached per second
//   AcceptEncoding              the codings a client accepts and their weights (q-values)
//   GzipCompressor              gzip (RFC 1952) through zlib: the one file that calls CZlib
//   Cookies, SetCookie          the Cookie field parsed; Set-Cookie values built and checked
//   Conversions                 HTTPRequest / HTTPFields / Method, built lazily (they allocate)
//   PercentEncoding             %XX decoding (strict or lenient, + as space) and encoding
//   QueryParameters             a=1&b=2 pairs of queries and form bodies, bounded by Limits
//
// Feeding model: `HTTPRequestParser.parseHead(buffer)` keeps resumable state (phase + offsets),
// so a head delivered in n pieces is scanned once in total, not re-parsed per piece; the server
// keeps the incomplete head's bytes and passes them again (possibly moved) with the new ones.
// Offsets are relative to the head's first byte, so moving the bytes is allowed. Body bytes go
// to `HTTPBodyDecoder`, which keeps partial chunk-size lines in its own state (nothing to keep).
//
// Cost: `parseHead`, the body decoders and the response writer make no heap allocation (the
// tests count every malloc/calloc/realloc/posix_memalign/aligned_alloc on the thread over
// 100,000 rounds, in debug and release). Inner loops use a 256-byte class table; field values
// and targets are skipped 8 bytes at a time (SWAR) until a byte that may end them.
//
// Where RFC 9112/9110 leave a choice, Spindle chooses (and the tests pin down):
//   - Line endings: CRLF only. A bare LF or a bare CR is a 400, everywhere (head, chunk lines,
//     trailers). Up to 8 empty lines before a request line are skipped (RFC 9112 §2.2).
//   - Request line: single SP separators; method is any token (routing decides; `get` is not
//     GET); a method over 32 bytes is 501. Targets: origin-form, absolute-form (`scheme://`,
//     non-empty authority, no userinfo; its authority wins over Host), asterisk-form for
//     OPTIONS only. CONNECT (authority-form) is 501: Spindle is an origin server and does not
//     tunnel; a CONNECT with a malformed authority is 400. Target bytes: visible ASCII except
//     `#` (no control characters, spaces, or non-ASCII; `{|}^` are accepted as clients send them).
//   - Versions: HTTP/1.0 and HTTP/1.1; HTTP/1.2–1.9 are accepted and handled as HTTP/1.1
//     (RFC 9110 §6.2); any other well-formed version is 505; a malformed one is 400.
//   - Host: required in HTTP/1.1 (and 1.x), at most one, value `uri-host[:port]` (may be empty).
//   - Content-Length: one field line, `1*DIGIT`; any list (even `1,1`) or repeat is 400.
//   - Transfer-Encoding: only `chunked`, once, as the final coding. CL with TE: 400. TE in
//     HTTP/1.0: 400. `chunked` not final (`chunked, identity`): 400. Another coding and no
//     misplaced chunked (`gzip`, `identity`, `gzip, chunked`): 501 (RFC 9112 §6.1 SHOULD).
//     Empty list members are ignored (RFC 9110 §5.6.1).
//   - Expect: `100-continue` is reported (HTTP/1.1 only); any other expectation is 417.
//   - obs-fold, whitespace before the colon, whitespace before the first field: 400.
//     Field values: VCHAR, obs-text, SP, HTAB; any other control character or DEL is 400.
//   - Chunked: size `1*HEXDIG` only, whitespace only before `;` (BWS), 63-bit maximum;
//     extensions are validated (no control characters) and ignored; trailers are validated and
//     discarded. Total extension bytes per body are bounded (413, as Node does).
//   - Every error closes the connection; the parser never resynchronises.
//   - Limits: a body over `maxBodyBytes` is refused from its Content-Length before any body
//     byte is read (413); chunked bodies when the chunk that crosses the limit is announced.
