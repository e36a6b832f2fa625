// The response conformance table: raw response bytes and what HTTPResponseParser must make of
// them. Every case runs whole, split in two at every byte boundary, and byte by byte
// (HTTPResponseParserTests).
import HTTPTypes
import SpindleHTTP

/// What to check about an accepted head (nil: not checked). The runner also checks that the
/// head consumed the whole input.
struct AcceptedResponse {
    var status: Int
    var reason: String? = nil
    var version: HTTPVersion? = nil
    var fields: [String]? = nil
    var framing: HTTPResponseBodyFraming
    var keepAlive: Bool
}

enum ResponseExpectation {
    case accept(AcceptedResponse)
    case reject(HTTPResponseParseError.Reason)
    case incomplete
}

struct ResponseCase {
    let name: String
    let input: [UInt8]
    let method: HTTPRequest.Method
    let expect: ResponseExpectation
    var limits: HTTPLimits = .default

    init(_ name: String, _ input: String, method: HTTPRequest.Method = .get, _ expect: ResponseExpectation, limits: HTTPLimits = .default) {
        self.init(name, Array(input.utf8), method: method, expect, limits: limits)
    }

    init(_ name: String, _ input: [UInt8], method: HTTPRequest.Method = .get, _ expect: ResponseExpectation, limits: HTTPLimits = .default) {
        self.name = name
        self.input = input
        self.method = method
        self.expect = expect
        self.limits = limits
    }
}

private func ok(_ status: Int, reason: String? = nil, version: HTTPVersion? = nil, fields: [String]? = nil,
                _ framing: HTTPResponseBodyFraming, keepAlive: Bool = true) -> ResponseExpectation {
    .accept(AcceptedResponse(status: status, reason: reason, version: version, fields: fields, framing: framing, keepAlive: keepAlive))
}

private let noResponseBody = HTTPResponseBodyFraming.none

let responseCases: [ResponseCase] = acceptedResponses + statusLineRejections + responseFieldRejections + responseFramingRejections + responseLimitCases

let acceptedResponses: [ResponseCase] = [
    .init("Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
          ok(200, reason: "OK", version: .http1_1, fields: ["Content-Length: 5"], .contentLength(5))),
    .init("chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ok(200, .chunked)),
    .init("chunked, any case, empty list members ignored", "HTTP/1.1 200 OK\r\nTransfer-Encoding: , Chunked\r\n\r\n", ok(200, .chunked)),
    .init("no framing fields: close-delimited", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", ok(200, .untilClose)),
    .init("HTTP/1.0 closes by default", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
          ok(200, version: .http1_0, .contentLength(0), keepAlive: false)),
    .init("HTTP/1.0 with keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
          ok(200, .contentLength(2), keepAlive: true)),
    .init("Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", ok(200, .contentLength(2), keepAlive: false)),
    .init("close wins over keep-alive in one list", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
          ok(200, .contentLength(0), keepAlive: false)),
    .init("204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", ok(204, reason: "No Content", noResponseBody)),
    .init("304 has no body despite Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", ok(304, noResponseBody)),
    .init("HEAD response has no body", "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", method: .head, ok(200, noResponseBody)),
    .init("HEAD response to a chunked resource", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: .head, ok(200, noResponseBody)),
    .init("100 Continue is interim, no body", "HTTP/1.1 100 Continue\r\n\r\n", ok(100, reason: "Continue", noResponseBody)),
    .init("103 Early Hints with fields", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
          ok(103, fields: ["Link: </a.css>; rel=preload"], noResponseBody)),
    .init("empty reason after the space", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", ok(200, reason: "", .contentLength(0))),
    .init("no space and no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", ok(200, reason: "", .contentLength(0))),
    .init("reason with spaces, tab and obs-text", [UInt8]("HTTP/1.1 404 Not  Found\t".utf8) + [0xE9] + [UInt8]("\r\nContent-Length: 0\r\n\r\n".utf8),
          ok(404, .contentLength(0))),
    .init("field values trimmed, empty value kept", "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Pad: \t v w \t\r\nContent-Length: 0\r\n\r\n",
          ok(200, fields: ["X-Empty: ", "X-Pad: v w", "Content-Length: 0"], .contentLength(0))),
    .init("HTTP/1.2 is treated as 1.1", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", ok(200, version: HTTPVersion(major: 1, minor: 2), .contentLength(0))),
    .init("Content-Length with leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n", ok(200, .contentLength(7))),
    .init("Content-Length of Int.max", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n", ok(200, .contentLength(Int.max))),
    .init("5xx with a body", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\n", ok(503, reason: "Service Unavailable", .contentLength(4))),
    .init("incomplete head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", .incomplete),
    .init("incomplete status line", "HTTP/1.1 20", .incomplete),
]

let statusLineRejections: [ResponseCase] = [
    .init("lowercase protocol name", "http/1.1 200 OK\r\n\r\n", .reject(.invalidVersion)),
    .init("empty line before the status line", "\r\nHTTP/1.1 200 OK\r\n\r\n", .reject(.invalidVersion)),
    .init("version without minor", "HTTP/1 200 OK\r\n\r\n", .reject(.invalidVersion)),
    .init("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", .reject(.unsupportedVersion)),
    .init("HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\n", .reject(.unsupportedVersion)),
    .init("two spaces before the code", "HTTP/1.1  200 OK\r\n\r\n", .reject(.invalidStatusCode)),
    .init("two-digit code", "HTTP/1.1 20 OK\r\n\r\n", .reject(.invalidStatusCode)),
    .init("four-digit code", "HTTP/1.1 2000 OK\r\n\r\n", .reject(.invalidStatusCode)),
    .init("code above 599", "HTTP/1.1 600 Weird\r\n\r\n", .reject(.invalidStatusCode)),
    .init("code below 100", "HTTP/1.1 099 Low\r\n\r\n", .reject(.invalidStatusCode)),
    .init("control character in the reason", "HTTP/1.1 200 O\u{1}K\r\n\r\n", .reject(.invalidReasonPhrase)),
    .init("bare LF after the status line", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", .reject(.bareLineFeed)),
    .init("bare LF right after the code", "HTTP/1.1 200\n\r\n", .reject(.bareLineFeed)),
    .init("bare CR after the status line", "HTTP/1.1 200 OK\rX: y\r\n\r\n", .reject(.bareCarriageReturn)),
    .init("status line too long", "HTTP/1.1 200 " + String(repeating: "k", count: 1100) + "\r\n\r\n", .reject(.statusLineTooLong)),
]

let responseFieldRejections: [ResponseCase] = [
    .init("obsolete line folding", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", .reject(.lineFolding)),
    .init("whitespace before the first field", "HTTP/1.1 200 OK\r\n X: a\r\n\r\n", .reject(.whitespaceBeforeFirstField)),
    .init("whitespace before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", .reject(.whitespaceBeforeColon)),
    .init("non-token byte in a name", "HTTP/1.1 200 OK\r\nX@Y: 1\r\n\r\n", .reject(.invalidFieldName)),
    .init("field line without a colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", .reject(.missingColon)),
    .init("NUL in a value", "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\n\r\n", .reject(.invalidFieldValue)),
    .init("bare LF ending a field", "HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", .reject(.bareLineFeed)),
    .init("bare CR ending the head", "HTTP/1.1 200 OK\r\nX: a\r\n\rZ", .reject(.bareCarriageReturn)),
]

let responseFramingRejections: [ResponseCase] = [
    .init("Content-Length list of equal values", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", .reject(.invalidContentLength)),
    .init("negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", .reject(.invalidContentLength)),
    .init("empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", .reject(.invalidContentLength)),
    .init("Content-Length beyond Int.max", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", .reject(.invalidContentLength)),
    .init("Content-Length of 30 digits", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999999999999999\r\n\r\n", .reject(.invalidContentLength)),
    .init("two Content-Length lines", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", .reject(.duplicateContentLength)),
    .init("Content-Length with Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
          .reject(.contentLengthWithTransferEncoding)),
    .init("Content-Length with Transfer-Encoding on a 204", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
          .reject(.contentLengthWithTransferEncoding)),
    .init("Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .reject(.transferEncodingInHTTP10)),
    .init("chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .reject(.invalidTransferEncoding)),
    .init("empty Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", .reject(.invalidTransferEncoding)),
    .init("chunked with a parameter", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", .reject(.invalidTransferEncoding)),
    .init("chunked not last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .reject(.chunkedNotFinal)),
    .init("gzip before chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .reject(.unsupportedTransferCoding)),
]

let responseLimitCases: [ResponseCase] = [
    .init("field section over maxHeaderBytes", "HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "v", count: 80) + "\r\n\r\n",
          .reject(.headerSectionTooLarge), limits: HTTPLimits(maxHeaderBytes: 64)),
    .init("field section exactly at maxHeaderBytes", "HTTP/1.1 200 OK\r\nX: " + String(repeating: "v", count: 57) + "\r\n\r\n",
          ok(200, .untilClose), limits: HTTPLimits(maxHeaderBytes: 64)),
    .init("more fields than maxHeaderCount", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
          .reject(.tooManyFields), limits: HTTPLimits(maxHeaderCount: 2)),
    .init("fields exactly at maxHeaderCount", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
          ok(200, fields: ["A: 1", "B: 2"], .untilClose), limits: HTTPLimits(maxHeaderCount: 2)),
]
