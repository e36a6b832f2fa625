import SpindleHTTP
import SpindleIO
import SpindleTLS

/// Why an exchange failed, with what to do about it. The client's own errors are these; a
/// cancelled fiber gets `CancellationError` instead, and an offload queue that is full,
/// `OffloadRejectedError`.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    /// Which step timed out.
    public enum Phase: String, Sendable {
        /// Waiting for a free connection to the host (all `maxConnectionsPerHost` in use).
        case poolWait = "waiting for a pooled connection"
        /// Resolving the host or connecting.
        case connect = "connecting"
        /// Sending the request or waiting for the response head.
        case head = "waiting for the response head"
        /// Waiting for response body bytes.
        case body = "reading the response body"
    }

    /// What went wrong.
    public enum Kind: Sendable {
        /// The URL is not `http[s]://host[:port][/path]` (a reason says why).
        case invalidURL(String)
        /// The request cannot be sent as it is (a reason says why).
        case invalidRequest(String)
        /// Only `http` and `https` are supported.
        case unsupportedScheme(String)
        /// The host did not resolve.
        case hostNotFound(HostLookupError)
        /// No address of the host accepted a connection (the last failure).
        case connectFailed(IOError)
        /// A deadline passed in this phase; `totalDeadline` when it was the exchange's total one.
        case timedOut(Phase, totalDeadline: Bool)
        /// The response head broke the protocol.
        case invalidResponse(HTTPResponseParseError)
        /// The chunked response body broke the protocol.
        case invalidResponseBody(HTTPParseError)
        /// The server sent `101 Switching Protocols` though no upgrade was asked for.
        case unexpectedUpgrade
        /// The server closed the connection before the response head was complete.
        case closedBeforeHead(bytesReceived: Int)
        /// The server closed the connection before the body was complete (Content-Length or
        /// chunked): what was read is not the whole body.
        case closedBeforeBodyEnd(bytesReceived: Int)
        /// The body is larger than the limit given for collecting it.
        case bodyTooLarge(limit: Int)
        /// A streamed request body wrote a different number of bytes than its declared length.
        case requestBodyLengthMismatch(declared: Int, written: Int)
        /// More redirects than the policy allows.
        case tooManyRedirects(Int)
        /// Sending or receiving failed (reset, broken pipe, …).
        case io(IOError)
        /// TLS failed on an `https` connection: the handshake (the server's certificate not
        /// trusted or not valid for the host, no common version or cipher), a broken record, or
        /// the CA file of `Configuration.tls` (the message says which and what to do).
        case tls(TLSError)
    }

    /// What went wrong.
    public let kind: Kind

    /// Creates an error. Cost: none beyond the payload.
    public init(_ kind: Kind) { self.kind = kind }

    /// A sentence naming the failure and, where there is one, what to change. Allocates.
    public var description: String {
        switch kind {
        case .invalidURL(let why): return "invalid URL: \(why) (expected http[s]://host[:port][/path][?query])"
        case .invalidRequest(let why): return "invalid request: \(why)"
        case .unsupportedScheme(let scheme): return "unsupported scheme \"\(scheme)\": HTTPClient speaks http and https only"
        case .hostNotFound(let error): return error.description
        case .connectFailed(let error): return "connect failed: \(error)"
        case .timedOut(let phase, let total):
            return total ? "the exchange's total deadline passed while \(phase.rawValue) (raise totalTimeout or the deadline given)"
                : "timed out \(phase.rawValue) (raise HTTPClient.Configuration.\(Self.setting(phase)))"
        case .invalidResponse(let error): return "\(error)"
        case .invalidResponseBody(let error): return "invalid response body: \(error.reason.explanation)"
        case .unexpectedUpgrade: return "the server switched protocols (101) though no upgrade was asked for"
        case .closedBeforeHead(let n): return "the server closed the connection after \(n) bytes, before the response head was complete"
        case .closedBeforeBodyEnd(let n): return "the server closed the connection after \(n) body bytes, before the body was complete"
        case .bodyTooLarge(let limit): return "the response body is larger than \(limit) bytes (raise the limit given to collect, or stream it with read)"
        case .requestBodyLengthMismatch(let declared, let written):
            return "the streamed request body declared \(declared) bytes and wrote \(written)"
        case .tooManyRedirects(let n): return "stopped after \(n) redirects (RedirectPolicy.follow(max:))"
        case .io(let error): return "\(error)"
        case .tls(let error): return "\(error)"
        }
    }

    private static func setting(_ phase: Phase) -> String {
        switch phase {
        case .poolWait: return "maxConnectionsPerHost or totalTimeout"
        case .connect: return "connectTimeout"
        case .head: return "headTimeout"
        case .body: return "bodyReadTimeout"
        }
    }
}
