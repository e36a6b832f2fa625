// The conformance table: raw request bytes and what Spindle must do with them. Every case runs
// whole, split at every byte boundary, and byte by byte (ConformanceTests).
import SpindleHTTP

/// What to check about an accepted request (nil: not checked). The runner also checks that
/// exactly one request was parsed and that it consumed the whole input.
struct Accepted {
    var method: String? = nil
    var target: String? = nil
    var version: HTTPVersion? = nil
    var form: HTTPRequestTargetForm? = nil
    var fields: [String]? = nil
    var host: String? = nil
    var framing: HTTPBodyFraming? = nil
    var keepAlive: Bool? = nil
    var expectsContinue: Bool? = nil
    var body: String? = nil
}

enum Expectation {
    /// Exactly one request, consuming the whole input; then the stream is idle.
    case accept(Accepted)
    /// Rejected with this reason and this status code.
    case reject(HTTPParseError.Reason, status: Int)
    /// Valid so far, but the head is not complete.
    case incompleteHead
    /// A valid head; the body is not complete.
    case incompleteBody
}

struct ConformanceCase {
    let name: String
    let input: [UInt8]
    let expect: Expectation
    var limits: HTTPLimits = .default

    init(_ name: String, _ input: String, _ expect: Expectation, limits: HTTPLimits = .default) {
        self.init(name, bytes(input), expect, limits: limits)
    }

    init(_ name: String, _ input: [UInt8], _ expect: Expectation, limits: HTTPLimits = .default) {
        self.name = name
        self.input = input
        self.expect = expect
        self.limits = limits
    }
}

/// `HTTPBodyFraming.none`, spelled so it is not mistaken for `Optional.none`.
let noBody = HTTPBodyFraming.none

private let get11 = "GET / HTTP/1.1\r\nHost: a\r\n"
private let chunkedPost = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
private let browserGET = """
    GET /plaintext HTTP/1.1\r
    Host: localhost:8080\r
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r
    Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r
    Accept-Encoding: gzip, deflate, br\r
    Accept-Language: en-US,en;q=0.5\r
    Connection: keep-alive\r
    \r

    """

/// A 20-byte chunk extension (after the `;`).
private let extension20 = "name=" + String(repeating: "v", count: 15)

private func reject(_ reason: HTTPParseError.Reason, _ status: Int) -> Expectation { .reject(reason, status: status) }

let conformanceCases: [ConformanceCase] = acceptedCases + requestLineRejections + fieldRejections
    + framingRejections + smugglingCases + chunkedCases + limitCases

// MARK: - Accepted requests

let acceptedCases: [ConformanceCase] = [
    .init("plaintext GET", "GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n", .accept(.init(
        method: "GET", target: "/plaintext", version: .http1_1, form: .origin, fields: ["Host: localhost"],
        host: "localhost", framing: noBody, keepAlive: true, expectsContinue: false, body: ""))),
    .init("browser GET with common headers", browserGET, .accept(.init(
        method: "GET", target: "/plaintext",
        fields: ["Host: localhost:8080", "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                 "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "Accept-Encoding: gzip, deflate, br",
                 "Accept-Language: en-US,en;q=0.5", "Connection: keep-alive"],
        host: "localhost:8080", keepAlive: true))),
    .init("HTTP/1.0 without Host defaults to close", "GET /old HTTP/1.0\r\n\r\n", .accept(.init(
        version: .http1_0, fields: [], framing: noBody, keepAlive: false))),
    .init("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", .accept(.init(
        version: .http1_0, keepAlive: true))),
    .init("HTTP/1.1 Connection: close", get11 + "Connection: close\r\n\r\n", .accept(.init(keepAlive: false))),
    .init("close wins over keep-alive, any case, over two lines",
          get11 + "Connection: keep-alive, Upgrade\r\nConnection: CLOSE\r\n\r\n", .accept(.init(keepAlive: false))),
    .init("HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive , close\r\n\r\n",
          .accept(.init(keepAlive: false))),
    .init("POST with Content-Length body", "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
          .accept(.init(method: "POST", framing: .contentLength(11), body: "hello world"))),
    .init("Content-Length: 0", get11 + "Content-Length: 0\r\n\r\n", .accept(.init(framing: .contentLength(0), body: ""))),
    .init("Content-Length with leading zeros and OWS", get11 + "Content-Length:  005 \r\n\r\nabcde",
          .accept(.init(framing: .contentLength(5), body: "abcde"))),
    .init("Expect: 100-continue", "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nhi",
          .accept(.init(method: "PUT", expectsContinue: true, body: "hi"))),
    .init("Expect: 100-continue ignored in HTTP/1.0", "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
          .accept(.init(expectsContinue: false, body: "hi"))),
    .init("unknown expectation ignored in HTTP/1.0", "GET / HTTP/1.0\r\nExpect: teapot\r\n\r\n", .accept(.init())),
    .init("OPTIONS * (asterisk-form)", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init(
        method: "OPTIONS", target: "*", form: .asterisk))),
    .init("absolute-form", "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", .accept(.init(
        target: "http://example.com:8080/p?q=1", form: .absolute, host: "other"))),
    .init("empty lines before the request line", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init(method: "GET"))),
    .init("OWS around values is trimmed", get11 + "X-Pad: \t value with  inner  space \t \r\n\r\n", .accept(.init(
        fields: ["Host: a", "X-Pad: value with  inner  space"]))),
    .init("empty field value", get11 + "X-Empty:\r\nX-Blank:   \r\n\r\n", .accept(.init(fields: ["Host: a", "X-Empty: ", "X-Blank: "]))),
    .init("obs-text in a value", bytes(get11 + "X-Latin: caf") + [0xE9] + bytes("\r\n\r\n"), .accept(.init(method: "GET"))),
    .init("lowercase method is a token", "get / HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init(method: "get"))),
    .init("unknown method", "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init(method: "PURGE", target: "/cache"))),
    .init("HTTP/1.2 is handled as HTTP/1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .accept(.init(
        version: HTTPVersion(major: 1, minor: 2), keepAlive: true))),
    .init("Transfer-Encoding is case-insensitive with OWS", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n0\r\n\r\n",
          .accept(.init(framing: .chunked, body: ""))),
    .init("empty list members in Transfer-Encoding are ignored", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n0\r\n\r\n",
          .accept(.init(framing: .chunked, body: ""))),
    .init("empty Host is valid", "GET / HTTP/1.1\r\nHost:\r\n\r\n", .accept(.init(host: ""))),
    .init("Host with IPv6 literal and port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", .accept(.init(host: "[::1]:8080"))),
    .init("query with visible punctuation", "GET /s?q=a|b{c}^d&e=%20 HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init(target: "/s?q=a|b{c}^d&e=%20"))),
    .init("Host name case-insensitive", "GET / HTTP/1.1\r\nhOST: x\r\n\r\n", .accept(.init(host: "x"))),
]

// MARK: - Request line

let requestLineRejections: [ConformanceCase] = [
    .init("invalid character in method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidMethod, 400)),
    .init("line starts with a space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidMethod, 400)),
    .init("method longer than 32 bytes", String(repeating: "M", count: 33) + " / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.methodTooLong, 501)),
    .init("two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidVersion, 400)),
    .init("tab as separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidMethod, 400)),
    .init("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("non-ASCII byte in the target", bytes("GET /caf") + [0xC3, 0xA9] + bytes(" HTTP/1.1\r\nHost: a\r\n\r\n"), reject(.invalidRequestTarget, 400)),
    .init("fragment in the target", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("target neither origin, absolute nor asterisk", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("absolute-form without authority", "GET http:///path HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("absolute-form with userinfo", "GET http://user@host/ HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("asterisk-form with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", reject(.asteriskFormRequiresOPTIONS, 400)),
    .init("CONNECT authority-form is not supported", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", reject(.connectNotSupported, 501)),
    .init("CONNECT with origin-form", "CONNECT /path HTTP/1.1\r\nHost: a\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("HTTP/0.9 request (no version)", "GET /\r\n\r\n", reject(.invalidRequestTarget, 400)),
    .init("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", reject(.unsupportedVersion, 505)),
    .init("HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", reject(.unsupportedVersion, 505)),
    .init("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", reject(.invalidVersion, 400)),
    .init("lowercase http version", "GET / http/1.1\r\nHost: a\r\n\r\n", reject(.invalidVersion, 400)),
    .init("version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", reject(.invalidVersion, 400)),
    .init("trailing space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", reject(.invalidVersion, 400)),
    .init("bare LF after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", reject(.bareLineFeed, 400)),
    .init("bare CR after the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", reject(.bareCarriageReturn, 400)),
    .init("too many empty lines first", String(repeating: "\r\n", count: 9) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.tooManyEmptyLines, 400)),
    .init("bare LF as leading empty line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.bareLineFeed, 400)),
]

// MARK: - Field lines

let fieldRejections: [ConformanceCase] = [
    .init("whitespace between name and colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", reject(.whitespaceBeforeColon, 400)),
    .init("tab between name and colon", get11 + "X-A\t: b\r\n\r\n", reject(.whitespaceBeforeColon, 400)),
    .init("invalid token character in name", get11 + "X(A): b\r\n\r\n", reject(.invalidFieldName, 400)),
    .init("empty field name", get11 + ": b\r\n\r\n", reject(.invalidFieldName, 400)),
    .init("field line without colon", get11 + "NoColon\r\n\r\n", reject(.missingColon, 400)),
    .init("obs-fold continuation line", get11 + "X-A: b\r\n  continued\r\n\r\n", reject(.lineFolding, 400)),
    .init("whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", reject(.whitespaceBeforeFirstField, 400)),
    .init("NUL in a value", get11 + "X-A: a\u{0}b\r\n\r\n", reject(.invalidFieldValue, 400)),
    .init("control character in a value", get11 + "X-A: a\u{1}b\r\n\r\n", reject(.invalidFieldValue, 400)),
    .init("DEL in a value", get11 + "X-A: a\u{7F}b\r\n\r\n", reject(.invalidFieldValue, 400)),
    .init("bare CR inside a value", get11 + "X-A: a\rb\r\n\r\n", reject(.bareCarriageReturn, 400)),
    .init("bare LF inside a value", get11 + "X-A: a\nb\r\n\r\n", reject(.bareLineFeed, 400)),
    .init("LF-only line endings", "GET / HTTP/1.1\nHost: a\n\n", reject(.bareLineFeed, 400)),
    .init("LF-only final empty line", get11 + "\n", reject(.bareLineFeed, 400)),
    .init("bare CR as final empty line", get11 + "\r\r\n", reject(.bareCarriageReturn, 400)),
    .init("missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", reject(.missingHost, 400)),
    .init("duplicated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", reject(.duplicateHost, 400)),
    .init("duplicated identical Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", reject(.duplicateHost, 400)),
    .init("invalid Host value", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", reject(.invalidHost, 400)),
    .init("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", reject(.invalidHost, 400)),
    .init("unsupported expectation", get11 + "Expect: 200-ok\r\n\r\n", reject(.unsupportedExpectation, 417)),
    .init("incomplete head", get11 + "Accept: */*\r\n", .incompleteHead),
    .init("incomplete request line", "GET /plain", .incompleteHead),
]

// MARK: - Body framing

let framingRejections: [ConformanceCase] = [
    .init("Content-Length not a number", get11 + "Content-Length: abc\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("negative Content-Length", get11 + "Content-Length: -1\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("Content-Length with plus sign", get11 + "Content-Length: +5\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("empty Content-Length", get11 + "Content-Length:\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("Content-Length with inner space", get11 + "Content-Length: 5 5\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("Content-Length overflowing Int", get11 + "Content-Length: 99999999999999999999999\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("Transfer-Encoding gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", reject(.unsupportedTransferCoding, 501)),
    .init("Transfer-Encoding identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", reject(.unsupportedTransferCoding, 501)),
    .init("Transfer-Encoding gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", reject(.unsupportedTransferCoding, 501)),
    .init("Transfer-Encoding with parameters", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip;q=1, chunked\r\n\r\n", reject(.unsupportedTransferCoding, 501)),
    .init("empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", reject(.invalidTransferEncoding, 400)),
    .init("chunked with a parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", reject(.invalidTransferEncoding, 400)),
    .init("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", reject(.transferEncodingInHTTP10, 400)),
    .init("body over the limit by Content-Length", get11 + "Content-Length: 1048577\r\n\r\n", reject(.contentTooLarge, 413)),
]

// MARK: - Request smuggling attempts

let smugglingCases: [ConformanceCase] = [
    .init("CL.TE: Content-Length then Transfer-Encoding",
          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
          reject(.contentLengthWithTransferEncoding, 400)),
    .init("TE.CL: Transfer-Encoding then Content-Length",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST",
          reject(.contentLengthWithTransferEncoding, 400)),
    .init("Transfer-Encoding: chunked by obs-fold",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc",
          reject(.invalidTransferEncoding, 400)),
    .init("Transfer-Encoding continued by obs-fold",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n",
          reject(.lineFolding, 400)),
    .init("Transfer-Encoding: chunked, identity",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", reject(.chunkedNotFinal, 400)),
    .init("chunked then identity on two lines",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", reject(.chunkedNotFinal, 400)),
    .init("chunked twice",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", reject(.invalidTransferEncoding, 400)),
    .init("Transfer-Encoding name with space before colon",
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", reject(.whitespaceBeforeColon, 400)),
    .init("chunked misspelt", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n", reject(.unsupportedTransferCoding, 501)),
    .init("chunked with a vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \u{0B}chunked\r\n\r\n", reject(.invalidFieldValue, 400)),
    .init("Content-Length: 5, 6", get11 + "Content-Length: 5, 6\r\n\r\nhello", reject(.invalidContentLength, 400)),
    .init("Content-Length: 1,1 (strict: no lists)", get11 + "Content-Length: 1,1\r\n\r\na", reject(.invalidContentLength, 400)),
    .init("two Content-Length lines, same value", get11 + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", reject(.duplicateContentLength, 400)),
    .init("two Content-Length lines, different values", get11 + "Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc", reject(.duplicateContentLength, 400)),
    .init("Content-Length in hex", get11 + "Content-Length: 0x10\r\n\r\n", reject(.invalidContentLength, 400)),
    .init("missing Host in HTTP/1.1 with body", "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\na", reject(.missingHost, 400)),
    .init("duplicated Host with different values", "GET / HTTP/1.1\r\nHost: good\r\nHost: evil\r\n\r\n", reject(.duplicateHost, 400)),
    .init("LF-only lines hiding a second request", "GET / HTTP/1.1\r\nHost: a\r\nX: y\nGET /admin HTTP/1.1\r\n\r\n", reject(.bareLineFeed, 400)),
    .init("bare CR splitting a header", "GET / HTTP/1.1\r\nHost: a\r\nX: y\rTransfer-Encoding: chunked\r\n\r\n", reject(.bareCarriageReturn, 400)),
]

// MARK: - Chunked bodies

let chunkedCases: [ConformanceCase] = [
    .init("chunked body with several chunks", chunkedPost + "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
          .accept(.init(method: "POST", framing: .chunked, body: "Wikipedia in\r\n\r\nchunks."))),
    .init("chunk extensions and uppercase hex with leading zeros",
          chunkedPost + "00A;name=value;flag\r\n0123456789\r\n1 ;ws=\"quoted\"\r\n!\r\n0;last\r\n\r\n",
          .accept(.init(body: "0123456789!"))),
    .init("trailer fields", chunkedPost + "3\r\nabc\r\n0\r\nX-Checksum: 42\r\nX-Other: y\r\n\r\n", .accept(.init(body: "abc"))),
    .init("chunk size 0x5", chunkedPost + "0x5\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkSize, 400)),
    .init("chunk size -1", chunkedPost + "-1\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkSize, 400)),
    .init("chunk size overflow", chunkedPost + "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", reject(.chunkSizeOverflow, 400)),
    .init("chunk size 2^63 overflows", chunkedPost + "8000000000000000\r\n", reject(.chunkSizeOverflow, 400)),
    .init("space after chunk size", chunkedPost + "5 \r\nhello\r\n0\r\n\r\n", reject(.invalidChunkSize, 400)),
    .init("space before chunk size", chunkedPost + " 5\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkSize, 400)),
    .init("space inside chunk size", chunkedPost + "1 0\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkSize, 400)),
    .init("empty chunk size", chunkedPost + "\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkSize, 400)),
    .init("LF-only chunk line", chunkedPost + "5\nhello\r\n0\r\n\r\n", reject(.bareLineFeed, 400)),
    .init("chunk data longer than its size", chunkedPost + "3\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkTerminator, 400)),
    .init("chunk data with LF-only terminator", chunkedPost + "5\r\nhello\n0\r\n\r\n", reject(.invalidChunkTerminator, 400)),
    .init("control character in a chunk extension", chunkedPost + "5;a=\u{1}\r\nhello\r\n0\r\n\r\n", reject(.invalidChunkExtension, 400)),
    .init("obs-fold in trailers", chunkedPost + "0\r\nX-A: b\r\n c\r\n\r\n", reject(.lineFolding, 400)),
    .init("trailer without colon", chunkedPost + "0\r\nBroken\r\n\r\n", reject(.missingColon, 400)),
    .init("last chunk without the final CRLF is an incomplete body", chunkedPost + "5\r\nhello\r\n0\r\n", .incompleteBody),
    .init("Content-Length body cut short is an incomplete body", get11 + "Content-Length: 10\r\n\r\nhello", .incompleteBody),
]

// MARK: - Limits

let limitCases: [ConformanceCase] = [
    .init("target at the limit", "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init(target: "/abc")),
          limits: HTTPLimits(maxRequestTargetLength: 4)),
    .init("target over the limit", "GET /abcd HTTP/1.1\r\nHost: a\r\n\r\n", reject(.requestTargetTooLong, 414),
          limits: HTTPLimits(maxRequestTargetLength: 4)),
    .init("default 8 KiB target limit", "GET /" + String(repeating: "a", count: 8192) + " HTTP/1.1\r\nHost: a\r\n\r\n",
          reject(.requestTargetTooLong, 414)),
    .init("field section at the limit", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", .accept(.init()),
          limits: HTTPLimits(maxHeaderBytes: 11)),
    .init("field section over the limit", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", reject(.headerSectionTooLarge, 431),
          limits: HTTPLimits(maxHeaderBytes: 10)),
    .init("default 16 KiB field section", get11 + "X-Big: " + String(repeating: "b", count: 16384) + "\r\n\r\n",
          reject(.headerSectionTooLarge, 431)),
    .init("field count at the limit", get11 + "A: 1\r\n\r\n", .accept(.init()), limits: HTTPLimits(maxHeaderCount: 2)),
    .init("field count over the limit", get11 + "A: 1\r\nB: 2\r\n\r\n", reject(.tooManyFields, 431), limits: HTTPLimits(maxHeaderCount: 2)),
    .init("101 fields by default", get11 + String(repeating: "X: y\r\n", count: 100) + "\r\n", reject(.tooManyFields, 431)),
    .init("Content-Length at the body limit", get11 + "Content-Length: 4\r\n\r\nabcd", .accept(.init(body: "abcd")),
          limits: HTTPLimits(maxBodyBytes: 4)),
    .init("Content-Length over the body limit", get11 + "Content-Length: 5\r\n\r\nabcde", reject(.contentTooLarge, 413),
          limits: HTTPLimits(maxBodyBytes: 4)),
    .init("chunked at the body limit", chunkedPost + "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n", .accept(.init(body: "abcd")),
          limits: HTTPLimits(maxBodyBytes: 4)),
    .init("chunked over the body limit", chunkedPost + "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n", reject(.contentTooLarge, 413),
          limits: HTTPLimits(maxBodyBytes: 4)),
    .init("chunk line at its limit", chunkedPost + "1;abcd\r\nx\r\n0\r\n\r\n", .accept(.init(body: "x")),
          limits: HTTPLimits(maxChunkLineLength: 6)),
    .init("chunk line over its limit", chunkedPost + "1;abcde\r\nx\r\n0\r\n\r\n", reject(.chunkLineTooLong, 400),
          limits: HTTPLimits(maxChunkLineLength: 6)),
    .init("chunk extensions at the per-body budget", chunkedPost + String(repeating: "1;" + extension20 + "\r\nx\r\n", count: 2) + "0\r\n\r\n",
          .accept(.init(body: "xx")), limits: HTTPLimits(maxHeaderBytes: 40)),
    .init("chunk extensions over the per-body budget", chunkedPost + String(repeating: "1;" + extension20 + "\r\nx\r\n", count: 3) + "0\r\n\r\n",
          reject(.chunkExtensionsTooLarge, 413), limits: HTTPLimits(maxHeaderBytes: 40)),
    .init("trailers at the field-count limit", chunkedPost + "0\r\nX: 1\r\nY: 2\r\n\r\n", .accept(.init(body: "")),
          limits: HTTPLimits(maxHeaderCount: 2)),
    .init("trailers over the field-count limit", chunkedPost + "0\r\nX: 1\r\nY: 2\r\nZ: 3\r\n\r\n", reject(.trailerSectionTooLarge, 431),
          limits: HTTPLimits(maxHeaderCount: 2)),
    .init("trailers over the byte limit", chunkedPost + "0\r\nX-Long: " + String(repeating: "v", count: 40) + "\r\n\r\n",
          reject(.trailerSectionTooLarge, 431), limits: HTTPLimits(maxHeaderBytes: 40)),
]
