import HTTPTypes

/// A response as a `HTTPTestClient` received it: the head in the swift-http-types vocabulary
/// and the decoded body (chunk framing removed).
public struct TestResponse: Sendable {
    /// Status and header fields.
    public let head: HTTPResponse
    /// The body, decoded (empty for `HEAD` and bodiless statuses).
    public let body: [UInt8]
    /// Trailer fields of a chunked body (usually empty).
    public let trailerFields: HTTPFields
    /// The exact bytes received for this response (head, framing and body).
    public let wireBytes: [UInt8]

    /// The status.
    public var status: HTTPResponse.Status { head.status }
    /// The header fields.
    public var headerFields: HTTPFields { head.headerFields }
    /// The body as UTF-8 text (invalid sequences replaced).
    public var bodyString: String { String(decoding: body, as: UTF8.self) }
}

/// Errors of the test client: what the server sent could not be read as a response, or did
/// not come in time.
public struct TestClientError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Reads HTTP/1.1 responses from a byte stream (both test modes use it): status line, header
/// fields, and a body delimited by `Content-Length`, chunked framing, or the end of the stream.
/// Strict about what it accepts; a test client, not a general one.
struct ResponseReader {
    private(set) var buffer: [UInt8] = []
    private(set) var ended = false

    mutating func append(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }
    mutating func end() { ended = true }

    /// The next complete response, removed from the buffer; nil while more bytes are needed.
    /// `requestWasHEAD`: the response has no body whatever its fields say.
    mutating func next(requestWasHEAD: Bool) throws -> TestResponse? {
        guard let headEnd = find([13, 10, 13, 10], in: buffer, from: 0) else {
            if ended && !buffer.isEmpty { throw TestClientError("the connection ended inside a response head") }
            return nil
        }
        let headText = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw TestClientError("empty response head") }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]), (100...999).contains(code) else {
            throw TestClientError("malformed status line: \(statusLine)")
        }
        var fields = HTTPFields()
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else {
                throw TestClientError("malformed header line: \(line)")
            }
            fields.append(HTTPField(name: name, value: String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })))
        }
        let reason = parts.count > 2 ? String(parts[2]) : ""
        let head = HTTPResponse(status: .init(code: code, reasonPhrase: reason), headerFields: fields)
        let bodyStart = headEnd + 4
        var body: [UInt8] = []
        var trailers = HTTPFields()
        var end: Int
        if requestWasHEAD || code == 204 || code == 304 || (100..<200).contains(code) {
            end = bodyStart
        } else if fields[.transferEncoding]?.lowercased().contains("chunked") == true {
            guard let decoded = try decodeChunked(from: bodyStart, trailers: &trailers) else { return nil }
            (body, end) = decoded
        } else if let lengthText = fields[.contentLength] {
            guard let length = Int(lengthText), length >= 0 else { throw TestClientError("invalid Content-Length: \(lengthText)") }
            guard buffer.count - bodyStart >= length else {
                if ended { throw TestClientError("the connection ended after \(buffer.count - bodyStart) of \(length) body bytes") }
                return nil
            }
            end = bodyStart + length
            body = Array(buffer[bodyStart..<end])
        } else {
            guard ended else { return nil }  // close-delimited
            end = buffer.count
            body = Array(buffer[bodyStart..<end])
        }
        if (100..<200).contains(code) {  // an interim response (100 Continue): skip it
            buffer.removeFirst(end)
            return try next(requestWasHEAD: requestWasHEAD)
        }
        let wire = Array(buffer[0..<end])
        buffer.removeFirst(end)
        return TestResponse(head: head, body: body, trailerFields: trailers, wireBytes: wire)
    }

    /// The decoded chunked body starting at `start` and where it ends; nil while incomplete.
    private func decodeChunked(from start: Int, trailers: inout HTTPFields) throws -> ([UInt8], Int)? {
        var position = start
        var body: [UInt8] = []
        while true {
            guard let lineEnd = find([13, 10], in: buffer, from: position) else { return try needMore() }
            let sizeText = String(decoding: buffer[position..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(), radix: 16), size >= 0 else {
                throw TestClientError("invalid chunk size line")
            }
            position = lineEnd + 2
            if size == 0 {
                while true {  // trailer section
                    guard let trailerEnd = find([13, 10], in: buffer, from: position) else { return try needMore() }
                    if trailerEnd == position { return (body, position + 2) }
                    let line = String(decoding: buffer[position..<trailerEnd], as: UTF8.self)
                    if let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) {
                        trailers.append(HTTPField(name: name, value: String(line[line.index(after: colon)...]).trimmingCharacters()))
                    }
                    position = trailerEnd + 2
                }
            }
            guard buffer.count - position >= size + 2 else { return try needMore() }
            body.append(contentsOf: buffer[position..<(position + size)])
            guard buffer[position + size] == 13, buffer[position + size + 1] == 10 else { throw TestClientError("chunk without CRLF") }
            position += size + 2
        }
    }

    private func needMore() throws -> ([UInt8], Int)? {
        if ended { throw TestClientError("the connection ended inside a chunked body") }
        return nil
    }
}

/// The first index of `needle` in `haystack` at or after `start`.
func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
    guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
    var i = start
    while i <= haystack.count - needle.count {
        if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
