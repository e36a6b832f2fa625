import HTTPTypes

/// Precomputed `HTTP/1.1 <code> <reason>\r\n` lines for common statuses: one memcpy instead of
/// formatting. Used when the status carries its standard reason phrase.
enum StatusLine {
    /// The precomputed line for `code`, or nil.
    static func precomputed(_ code: Int) -> StaticString? {
        switch code {
        case 100: return "HTTP/1.1 100 Continue\r\n"
        case 101: return "HTTP/1.1 101 Switching Protocols\r\n"
        case 200: return "HTTP/1.1 200 OK\r\n"
        case 201: return "HTTP/1.1 201 Created\r\n"
        case 202: return "HTTP/1.1 202 Accepted\r\n"
        case 204: return "HTTP/1.1 204 No Content\r\n"
        case 206: return "HTTP/1.1 206 Partial Content\r\n"
        case 301: return "HTTP/1.1 301 Moved Permanently\r\n"
        case 302: return "HTTP/1.1 302 Found\r\n"
        case 303: return "HTTP/1.1 303 See Other\r\n"
        case 304: return "HTTP/1.1 304 Not Modified\r\n"
        case 307: return "HTTP/1.1 307 Temporary Redirect\r\n"
        case 308: return "HTTP/1.1 308 Permanent Redirect\r\n"
        case 400: return "HTTP/1.1 400 Bad Request\r\n"
        case 401: return "HTTP/1.1 401 Unauthorized\r\n"
        case 403: return "HTTP/1.1 403 Forbidden\r\n"
        case 404: return "HTTP/1.1 404 Not Found\r\n"
        case 405: return "HTTP/1.1 405 Method Not Allowed\r\n"
        case 408: return "HTTP/1.1 408 Request Timeout\r\n"
        case 409: return "HTTP/1.1 409 Conflict\r\n"
        case 411: return "HTTP/1.1 411 Length Required\r\n"
        case 413: return "HTTP/1.1 413 Content Too Large\r\n"
        case 414: return "HTTP/1.1 414 URI Too Long\r\n"
        case 415: return "HTTP/1.1 415 Unsupported Media Type\r\n"
        case 417: return "HTTP/1.1 417 Expectation Failed\r\n"
        case 422: return "HTTP/1.1 422 Unprocessable Content\r\n"
        case 429: return "HTTP/1.1 429 Too Many Requests\r\n"
        case 431: return "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        case 500: return "HTTP/1.1 500 Internal Server Error\r\n"
        case 501: return "HTTP/1.1 501 Not Implemented\r\n"
        case 502: return "HTTP/1.1 502 Bad Gateway\r\n"
        case 503: return "HTTP/1.1 503 Service Unavailable\r\n"
        case 504: return "HTTP/1.1 504 Gateway Timeout\r\n"
        case 505: return "HTTP/1.1 505 HTTP Version Not Supported\r\n"
        default: return nil
        }
    }

    /// The reason phrase in `precomputed(code)`'s line, as a `String` literal: comparing it with a
    /// status's phrase is cheap (equal short strings compare by their bits, where iterating a
    /// string's UTF-8 view costs tens of instructions per byte). `ResponseWriterTests` checks
    /// that the two tables agree.
    static func standardReason(_ code: Int) -> String? {
        switch code {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return nil
        }
    }

    /// Appends the status line of `status`: the precomputed bytes when its reason phrase is the
    /// standard one, else `HTTP/1.1 <code> <reasonPhrase>\r\n`. No allocation.
    static func write(_ status: HTTPResponse.Status, into buffer: inout HTTPOutputBuffer) {
        if let reason = standardReason(status.code), status.reasonPhrase == reason, let line = precomputed(status.code) {
            buffer.append(line)
            return
        }
        buffer.append("HTTP/1.1 " as StaticString)
        buffer.append(decimal: status.code)
        buffer.append(byte: ASCII.sp)
        buffer.append(status.reasonPhrase)
        buffer.append("\r\n" as StaticString)
    }
}
