import HTTPTypes
import SpindleFibers
import SpindleHTTP
import SpindleIO

/// A reused connection turned out closed by the server before any byte of a response came:
/// the request may be sent again on a fresh connection (`requestSent` says whether it went out
/// whole, which decides for non-idempotent methods).
struct StaleConnection: Error {
    let error: HTTPClientError
    let requestSent: Bool
}

/// One request on one leased connection: the head and body go out, the response head comes
/// back (interim 1xx responses skipped), and the response takes the connection for its body.
/// On a throw the caller still holds the lease and closes the connection.
enum Exchange {
    static func run(_ request: HTTPRequest, body: HTTPClientRequestBody, authority: String, on connection: ClientConnection,
                    pool: ConnectionPool, deadlines: ExchangeDeadlines) throws -> HTTPClientResponse {
        let configuration = deadlines.configuration
        let framing: RequestHead.Framing
        switch body.source {
        case .empty: framing = RequestHead.expectsBody(request.method) ? .contentLength(0) : .none
        case .bytes(let bytes): framing = bytes.isEmpty && !RequestHead.expectsBody(request.method) ? .none : .contentLength(bytes.count)
        case .stream(let length, _): framing = length.map { .contentLength($0) } ?? .chunked
        }
        let head = try RequestHead.serialize(request, authority: authority, framing: framing)
        let deadline = deadlines.phase(configuration.headTimeout)

        // The request.
        do {
            try deadlines.run(.head, deadline) { deadline in
                switch body.source {
                case .empty:
                    try connection.send(head, deadline: deadline)
                case .bytes(let bytes) where bytes.count <= 64 << 10:
                    try connection.send(head + bytes, deadline: deadline)
                case .bytes(let bytes):
                    try connection.send(head, deadline: deadline)
                    try connection.send(bytes, deadline: deadline)
                case .stream(let length, let write):
                    try connection.send(head, deadline: deadline)
                    let writer = HTTPClientRequestBodyWriter(connection: connection, chunked: length == nil, deadline: deadline)
                    try write(writer)
                    if let length {
                        guard writer.bytesWritten == length else {
                            throw HTTPClientError(.requestBodyLengthMismatch(declared: length, written: writer.bytesWritten))
                        }
                    } else {
                        try connection.send(Array("0\r\n\r\n".utf8), deadline: deadline)
                    }
                }
            }
        } catch let error as IOError {
            if error.isDisconnect && connection.exchanges > 1 {
                throw StaleConnection(error: HTTPClientError(.io(error)), requestSent: false)
            }
            throw HTTPClientError(.io(error))
        }

        // The response head; interim responses (100, 102, 103) are skipped.
        var parser = HTTPResponseParser(limits: configuration.limits)
        var received = connection.pendingCount
        let maxBuffer = HTTPResponseParser.maxStatusLineLength + 2 + configuration.limits.maxHeaderBytes
        while true {
            if connection.pendingCount > 0 {
                switch parser.parseHead(connection.pending, requestMethod: request.method) {
                case .incomplete:
                    break
                case .error(let error):
                    throw HTTPClientError(.invalidResponse(error))
                case .complete(let responseHead, let consumed):
                    connection.consume(consumed)
                    if responseHead.status.code == 101 { throw HTTPClientError(.unexpectedUpgrade) }
                    if responseHead.isInterim { continue }
                    let requestCloses = request.headerFields[.connection].map { $0.lowercased().contains("close") } ?? false
                    let body = HTTPClientResponseBody(connection: connection, framing: responseHead.framing,
                                                      reusable: responseHead.isReusable && !requestCloses,
                                                      pool: pool, deadlines: deadlines)
                    return HTTPClientResponse(head: responseHead, body: body)
                }
            }
            if connection.isFull && connection.pendingCount >= maxBuffer {
                throw HTTPClientError(.invalidResponse(HTTPResponseParseError(.headerSectionTooLarge)))
            }
            let n: Int
            do {
                n = try deadlines.run(.head, deadline) { try connection.receive(deadline: $0, maxBuffer: maxBuffer) }
            } catch let error as IOError {
                if error.isDisconnect && received == 0 && connection.exchanges > 1 {
                    throw StaleConnection(error: HTTPClientError(.io(error)), requestSent: true)
                }
                throw HTTPClientError(.io(error))
            }
            if n == 0 {
                let error = HTTPClientError(.closedBeforeHead(bytesReceived: received))
                if received == 0 && connection.exchanges > 1 { throw StaleConnection(error: error, requestSent: true) }
                throw error
            }
            received += n
        }
    }
}
