import SpindleFibers

/// A request body: none, bytes in memory (sent with `Content-Length`, and repeatable for a
/// retry or a 307/308 redirect), or streamed by a closure that writes it (with `Content-Length`
/// when its length is known, chunked otherwise; not repeatable). A value type.
public struct HTTPClientRequestBody {
    enum Source {
        case empty
        case bytes([UInt8])
        case stream(length: Int?, (HTTPClientRequestBodyWriter) throws -> Void)
    }

    let source: Source

    /// No body. Methods that normally carry one (POST, PUT, PATCH) are sent with `Content-Length: 0`.
    public static var empty: HTTPClientRequestBody { HTTPClientRequestBody(source: .empty) }

    /// `bytes`, sent with `Content-Length`. Cost: none (the array is shared, not copied).
    public static func bytes(_ bytes: [UInt8]) -> HTTPClientRequestBody { HTTPClientRequestBody(source: .bytes(bytes)) }

    /// The UTF-8 bytes of `text`, sent with `Content-Length`. Allocates the array.
    public static func text(_ text: String) -> HTTPClientRequestBody { .bytes(Array(text.utf8)) }

    /// A body that `write` produces while the request is sent, on the calling fiber: each
    /// `writer.write` sends at once (parking while the socket is full). With `length`, it is
    /// sent with that `Content-Length` and must write exactly that many bytes; without, it is
    /// sent chunked. Not repeated for retries or redirects.
    public static func stream(length: Int? = nil, _ write: @escaping (HTTPClientRequestBodyWriter) throws -> Void) -> HTTPClientRequestBody {
        precondition(length.map { $0 >= 0 } ?? true, "HTTPClientRequestBody.stream: a negative length")
        return HTTPClientRequestBody(source: .stream(length: length, write))
    }

    /// True when the body can be sent again (a retry on a fresh connection, a 307/308).
    var isRepeatable: Bool {
        if case .stream = source { return false }
        return true
    }
}

/// What a streamed request body writes to. Each `write` sends its bytes (chunk-framed when the
/// body is chunked) before returning, parking the fiber while the socket's buffer is full,
/// under the exchange's head deadline. Valid only inside the body's closure.
public final class HTTPClientRequestBodyWriter {
    let connection: ClientConnection
    let chunked: Bool
    let deadline: Deadline?
    /// Body bytes written so far (without chunk framing).
    public private(set) var bytesWritten = 0

    init(connection: ClientConnection, chunked: Bool, deadline: Deadline?) {
        self.connection = connection
        self.chunked = chunked
        self.deadline = deadline
    }

    /// Sends `bytes` as the next part of the body. Empty writes send nothing. Parks until sent.
    /// Cost: one send; chunked adds a frame (the bytes are copied into it).
    public func write(_ bytes: some Collection<UInt8>) throws {
        guard !bytes.isEmpty else { return }
        let count = bytes.count
        if chunked {
            var frame = Array(String(count, radix: 16).utf8)
            frame.reserveCapacity(frame.count + count + 4)
            frame.append(contentsOf: [0x0D, 0x0A])
            frame.append(contentsOf: bytes)
            frame.append(contentsOf: [0x0D, 0x0A])
            try connection.send(frame, deadline: deadline)
        } else {
            try connection.send(bytes, deadline: deadline)
        }
        bytesWritten += count
    }

    /// Sends the UTF-8 bytes of `text`.
    public func write(_ text: String) throws { try write(Array(text.utf8)) }
}
