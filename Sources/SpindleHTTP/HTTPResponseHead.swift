import HTTPTypes

/// How a response's body is delimited (RFC 9112 §6.3), decided from the request method, the
/// status and the framing fields.
public enum HTTPResponseBodyFraming: Hashable, Sendable {
    /// No body: a response to HEAD, a 1xx, 204 or 304 (whatever its fields say).
    case none
    /// Exactly this many body bytes follow the head.
    case contentLength(Int)
    /// A chunked body follows; decode it with `HTTPChunkedDecoder`.
    case chunked
    /// Neither Content-Length nor Transfer-Encoding: the body is every byte until the server
    /// closes the connection, which therefore cannot be reused.
    case untilClose
}

/// A parsed response head: status line and fields, with the framing and persistence they mean.
/// Owns its values (unlike `HTTPRequestHead`, it does not point into the parser's input), so
/// it outlives the receive buffer. Copying it retains the fields' storage.
public struct HTTPResponseHead: Sendable {
    /// The version of the status line (1.0 or 1.x).
    public var version: HTTPVersion
    /// The status code with the reason phrase as received.
    public var status: HTTPResponse.Status
    /// The header fields, in received order and case.
    public var headerFields: HTTPFields
    /// How the body is delimited.
    public var framing: HTTPResponseBodyFraming
    /// What the server said about persistence: true for HTTP/1.1 without `Connection: close`,
    /// or HTTP/1.0 with `Connection: keep-alive`. A close-delimited body ends the connection
    /// whatever this says (see `isReusable`).
    public var keepAlive: Bool
    /// Bytes the head occupied (status line through the empty line).
    public var length: Int

    /// Creates a head (the parser makes these; public for tests). Cost: none beyond copies.
    public init(version: HTTPVersion, status: HTTPResponse.Status, headerFields: HTTPFields,
                framing: HTTPResponseBodyFraming, keepAlive: Bool, length: Int) {
        self.version = version
        self.status = status
        self.headerFields = headerFields
        self.framing = framing
        self.keepAlive = keepAlive
        self.length = length
    }

    /// True for a 1xx status: an interim response, which a client skips (after reacting to it)
    /// while it waits for the final one. `101 Switching Protocols` is one too, but it ends
    /// HTTP/1.1 on the connection; a client that did not ask to upgrade treats it as an error.
    public var isInterim: Bool { status.code < 200 }

    /// True when the connection may carry another request after this response's body: the
    /// server keeps it alive and the body is not delimited by the close.
    public var isReusable: Bool { keepAlive && framing != .untilClose }
}
