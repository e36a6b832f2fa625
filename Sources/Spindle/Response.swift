import Foundation
import HTTPTypes
import SpindleHTTP
import SpindleIO
import SpindleJSON
import SpindleMemory

/// What a handler returns: a status, header fields and a body.
///
/// Cost: `text` and `bytes` bodies are written with one `send` together with the head; `json`
/// encodes with `StreamingJSONEncoder` (allocates the body); `stream` bodies go out chunked as the
/// closure writes.
public struct Response {
    /// The body of a response.
    public enum Body {
        /// No body (`Content-Length: 0`).
        case empty
        /// These bytes.
        case bytes([UInt8])
        /// This text, UTF-8 (written straight from the string's storage: no copy).
        case text(String)
        /// A chunked body produced by the closure, which may park (sleep, I/O) between writes.
        case stream((BodyWriter) throws -> Void)
        /// A body of exactly `length` bytes produced by the closure piece by piece, sent with
        /// `Content-Length` (no chunk framing; `HEAD` gets the length without the closure
        /// running). Writing past `length` throws `ResponseBodyLengthError`; ending short aborts
        /// the response and closes the connection (the client sees the transfer fail, never a
        /// short body framed as complete).
        case sizedStream(length: Int, (BodyWriter) throws -> Void)
    }

    /// The status (200 by default).
    public var status: HTTPResponse.Status
    /// Header fields. The server adds `Date`, framing (`Content-Length`/`Transfer-Encoding`)
    /// and `Connection` itself and ignores those names here.
    ///
    /// Cost: reading it from a response the factories made (`text`, `json`, `bytes`) copies a
    /// shared set (one reference count); the first change copies that set into the response's
    /// own fields.
    public var headerFields: HTTPFields {
        get { ownFields ?? sharedFields.fields }
        set {
            ownFields = newValue
            sharedFields = .none  // changed, or replaced: written field by field
        }
    }
    /// The fields, once they are not a shared set (nil while they are: a factory's response
    /// holds, copies and destroys no field storage).
    private var ownFields: HTTPFields? = nil
    /// Which of the field sets the factories share (`SharedFields`) `headerFields` still is,
    /// untouched since: the server then writes that set's bytes, prepared once, instead of
    /// walking the fields.
    private(set) var sharedFields: SharedFields = .none
    /// The body.
    public var body: Body
    /// What few responses carry, in one box so that the many without pay one reference (a
    /// nil one) to make, copy and destroy, not one per field. Copied on write.
    private var extras: Extras? = nil

    /// What runs once the response is written (`onWritten`), in the order added.
    var writtenHandlers: [(WrittenResponse) -> Void] {
        get { extras?.writtenHandlers ?? [] }
        set { uniqueExtras().writtenHandlers = newValue }
    }

    /// Whether `onWritten` handlers were added (no array is made to say no).
    var hasWrittenHandlers: Bool { !(extras?.writtenHandlers.isEmpty ?? true) }

    /// For `101 Switching Protocols`: the session that takes the connection over (WebSocket).
    var upgrade: Upgrade? {
        get { extras?.upgrade }
        set { uniqueExtras().upgrade = newValue }
    }

    private final class Extras {
        var writtenHandlers: [(WrittenResponse) -> Void] = []
        var upgrade: Upgrade? = nil
    }

    /// The box, made or copied so that this response alone holds it.
    private mutating func uniqueExtras() -> Extras {
        if !isKnownUniquelyReferenced(&extras) {  // (false for nil)
            let fresh = Extras()
            if let old = extras {
                fresh.writtenHandlers = old.writtenHandlers
                fresh.upgrade = old.upgrade
            }
            extras = fresh
        }
        return extras!  // set just above when it was nil
    }

    /// A protocol session run on the connection after its `101` head (`Response.webSocket`).
    struct Upgrade {
        let session: (UpgradedConnection) -> Void
    }

    /// A response with `status`, `headerFields` and `body` (moved in: see `text`).
    public init(status: consuming HTTPResponse.Status = .ok, headerFields: consuming HTTPFields = [:], body: consuming Body = .empty) {
        self.status = status
        ownFields = headerFields
        self.body = body
    }

    /// Registers `handler` to run once the server has written this response: handed to the
    /// connection's output whole (the client may not have read it yet), or, for a streamed
    /// body, after its last chunk. It runs in the request's fiber, before the next request on
    /// the connection, and gets the status and the body bytes written (0 for `HEAD`; a
    /// streamed body's bytes before chunk framing). Middleware use it for access logs and
    /// metrics. Not run when the connection fails before the response is written.
    /// Cost: appends to an array (allocates the first time).
    public mutating func onWritten(_ handler: @escaping (WrittenResponse) -> Void) {
        uniqueExtras().writtenHandlers.append(handler)
    }

    /// Runs the `onWritten` handlers in the order added (the innermost middleware's first).
    func runWrittenHandlers(_ written: WrittenResponse) {
        guard let extras else { return }
        for handler in extras.writtenHandlers { handler(written) }
    }

    /// A `text/plain; charset=utf-8` response. Cost: no allocation beyond the string itself
    /// (the header fields are shared). Takes its arguments owned: a literal or a string built
    /// for the response moves in, without the retain (and the caller's release) a borrowed one
    /// cost.
    public static func text(_ text: consuming String, status: consuming HTTPResponse.Status = .ok) -> Response {
        Response(status: status, shared: .text, body: .text(text))
    }

    /// A response whose fields are the shared set `shared` (its arguments moved in).
    private init(status: consuming HTTPResponse.Status, shared: SharedFields, body: consuming Body) {
        self.status = status
        self.body = body
        sharedFields = shared
    }

    /// A response with raw bytes and the given content type (the bytes and the status moved in:
    /// see `text`).
    public static func bytes(_ bytes: consuming [UInt8], contentType: String = "application/octet-stream",
                             status: consuming HTTPResponse.Status = .ok) -> Response {
        if contentType == "application/octet-stream" { return Response(status: status, shared: .octetStream, body: .bytes(bytes)) }
        return Response(status: status, headerFields: [.contentType: contentType], body: .bytes(bytes))
    }

    /// An `application/json` response with `value` encoded by `StreamingJSONEncoder`: the text
    /// Foundation's `JSONEncoder()` writes with its default options, written straight into the
    /// body's bytes (members in the order the value encodes them). Throws `EncodingError` (NaN,
    /// infinities) and what the value's `encode(to:)` throws. Cost: the body array (the encoder's
    /// writer and its container boxes are kept per thread); several times less than going
    /// through `JSONEncoder` (Docs/benchmarks/json.md).
    public static func json<T: Encodable>(_ value: T, status: consuming HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, shared: .json, body: .bytes(try StreamingJSONEncoder().encode(value)))
    }

    /// An `application/json` response with `value` written by its own `writeJSON(to:)` (the
    /// overload chosen when the value's static type is `JSONWritable`): the same text without
    /// `Encodable`'s dispatch. Throws what `writeJSON` throws. Cost: the body array; the writing
    /// itself a few nanoseconds per member (Docs/benchmarks/json.md).
    public static func json<T: JSONWritable>(_ value: T, status: consuming HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, shared: .json, body: .bytes(try StreamingJSONEncoder().encode(value)))
    }

    /// An `application/json` response with `value` encoded by `encoder` (for its options: sorted
    /// keys, pretty printing, date, data and key strategies). Throws its errors. Cost: Foundation's
    /// encoding, its `Data`, copied into the body.
    public static func json<T: Encodable>(_ value: T, encoder: JSONEncoder, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, shared: .json, body: .bytes(Array(data)))
    }

    /// A chunked response whose body `produce` writes piece by piece.
    public static func stream(contentType: String = "application/octet-stream", status: HTTPResponse.Status = .ok,
                              _ produce: @escaping (BodyWriter) throws -> Void) -> Response {
        Response(status: status, headerFields: [.contentType: contentType], body: .stream(produce))
    }
}

/// Header fields of the common responses: built once (copies share their storage), and their
/// bytes on the wire, which the writer copies while a response's fields are still the set
/// (`Response.sharedFields`).
enum SharedFields: UInt8 {
    /// Not a shared set: the fields are written one by one.
    case none
    case text
    case json
    case octetStream

    private static let textFields: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
    private static let jsonFields: HTTPFields = [.contentType: "application/json"]
    private static let octetStreamFields: HTTPFields = [.contentType: "application/octet-stream"]

    /// The set (empty for `none`).
    var fields: HTTPFields {
        switch self {
        case .none: [:]
        case .text: Self.textFields
        case .json: Self.jsonFields
        case .octetStream: Self.octetStreamFields
        }
    }

    /// The set's field lines as written (`SharedFieldsTests` checks that they are what `fields`
    /// writes); nil for `none`.
    var lines: StaticString? {
        switch self {
        case .none: nil
        case .text: "Content-Type: text/plain; charset=utf-8\r\n"
        case .json: "Content-Type: application/json\r\n"
        case .octetStream: "Content-Type: application/octet-stream\r\n"
        }
    }
}

extension HTTPResponseWriter {
    /// `writeResponse` of `response`'s status and fields: its shared set's prepared bytes while
    /// it has one (`Response.sharedFields`), else its fields one by one.
    @inline(__always)
    mutating func writeResponse(of response: Response, body: UnsafeRawBufferPointer, requestIsHEAD: Bool,
                                persistence: HTTPConnectionPersistence, into buffer: inout HTTPOutputBuffer) -> Bool {
        if let lines = response.sharedFields.lines {
            return writeResponse(status: response.status, fieldLines: lines, body: body, requestIsHEAD: requestIsHEAD,
                                 persistence: persistence, into: &buffer)
        }
        return writeResponse(status: response.status, fields: response.headerFields, body: body, requestIsHEAD: requestIsHEAD,
                             persistence: persistence, into: &buffer)
    }

    /// `writeHead` of `response`'s status and fields, as `writeResponse(of:...)` writes them.
    @inline(__always)
    mutating func writeHead(of response: Response, framing: HTTPResponseFraming, persistence: HTTPConnectionPersistence,
                            into buffer: inout HTTPOutputBuffer) -> Bool {
        if let lines = response.sharedFields.lines {
            return writeHead(status: response.status, fieldLines: lines, framing: framing, persistence: persistence, into: &buffer)
        }
        return writeHead(status: response.status, fields: response.headerFields, framing: framing, persistence: persistence, into: &buffer)
    }
}

/// What the server wrote for a response (`Response.onWritten`).
public struct WrittenResponse: Sendable {
    /// The status sent.
    public let status: HTTPResponse.Status
    /// Body bytes written (0 for `HEAD`; a streamed body's bytes before chunk framing).
    public let bodyBytes: Int
}

/// Writes a streamed (chunked) response body. Each `write` sends one chunk and parks the fiber
/// until the kernel took it (backpressure). Valid only inside the `stream` closure.
public final class BodyWriter {
    private let sendChunk: (UnsafeRawBufferPointer) throws -> Void
    /// The most bytes the body may have (`Response.Body.sizedStream`), or nil.
    let limit: Int?
    /// Body bytes written so far.
    public private(set) var bytesWritten = 0
    /// A send to the connection failed (the client went away, the write timed out, or the
    /// connection closed under the request): what ended the body was the connection, not the
    /// code producing it.
    private(set) var connectionFailed = false

    /// Sends a range of a file straight from the page cache (a sized body on a plain
    /// connection), or nil: then `write(contentsOf:range:)` reads and writes it in chunks.
    private let sendFileRange: ((File, Range<Int>) throws -> Int)?

    init(limit: Int? = nil, send: @escaping (UnsafeRawBufferPointer) throws -> Void,
         sendFile: ((File, Range<Int>) throws -> Int)? = nil) {
        self.limit = limit
        sendChunk = send
        sendFileRange = sendFile
    }

    private func send(_ bytes: UnsafeRawBufferPointer) throws {
        if let limit, bytes.count > limit - bytesWritten {
            throw ResponseBodyLengthError(length: limit, attempted: bytesWritten + bytes.count)
        }
        do {
            try sendChunk(bytes)
        } catch {
            connectionFailed = true
            throw error
        }
        bytesWritten += bytes.count
    }

    /// Sends `bytes` as one chunk (nothing for an empty collection).
    public func write(_ bytes: some Collection<UInt8>) throws {
        if let done = try bytes.withContiguousStorageIfAvailable({ try send(UnsafeRawBufferPointer($0)) }) { return done }
        try Array(bytes).withUnsafeBytes { try send($0) }
    }

    /// Sends `text` (UTF-8) as one chunk.
    public func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try send(UnsafeRawBufferPointer($0)) }
    }

    /// The most bytes one `write(contentsOf:range:)` step hands the kernel under one write
    /// deadline (each step gets the connection's full write timeout).
    static let fileStep = 1 << 20

    /// Sends bytes `range` of `file` as body bytes; returns how many went out: `range.count`,
    /// or fewer when the file ended first (a file that shrank: the caller decides, and a sized
    /// body left short is aborted). In a `sizedStream` body the kernel moves the file's pages
    /// to the socket (`sendfile` on the epoll backend, `splice` through a pipe on io_uring): no
    /// copy through user space, no buffer. Elsewhere (a chunked `stream`), or when the kernel
    /// cannot do it for this file, they are read and written 64 KiB at a time through one
    /// buffer. Parks the fiber; each step of at most 1 MiB has the write timeout.
    @discardableResult
    public func write(contentsOf file: File, range: Range<Int>) throws -> Int {
        misusePrecondition(range.lowerBound >= 0, "BodyWriter.write(contentsOf:range: \(range)): the range starts before the file")
        if let limit, range.count > limit - bytesWritten {
            throw ResponseBodyLengthError(length: limit, attempted: bytesWritten + range.count)
        }
        var offset = range.lowerBound
        if let sendFileRange {
            do {
                while offset < range.upperBound {
                    let step = offset..<min(range.upperBound, offset + Self.fileStep)
                    let sent: Int
                    do { sent = try sendFileRange(file, step) } catch {
                        connectionFailed = true
                        throw error
                    }
                    offset += sent
                    bytesWritten += sent
                    if sent < step.count { return offset - range.lowerBound }
                }
                return range.count
            } catch let error as IOError where offset == range.lowerBound && error.meansCopyInstead {
                connectionFailed = false  // nothing was sent: copying is the way
            }
        }
        let copied = try file.forEachChunk(of: offset..<range.upperBound) { try send($0) }
        return offset + copied - range.lowerBound
    }
}

/// A `sizedStream` body's producer wrote more bytes than the length it announced.
public struct ResponseBodyLengthError: Error, CustomStringConvertible, Sendable {
    /// The announced length.
    public let length: Int
    /// The length the write would have reached.
    public let attempted: Int
    public var description: String { "a response body announced as \(length) bytes got a write reaching \(attempted)" }
}

extension IOError {
    /// The kernel could not move this file's pages to the socket (`sendfile` or `splice`
    /// unsupported for it, or no descriptor or memory left for a pipe): reading and writing
    /// the bytes still works.
    var meansCopyInstead: Bool {
        [EINVAL, ENOSYS, EOPNOTSUPP, EMFILE, ENFILE, ENOMEM].contains(errno)
    }
}
