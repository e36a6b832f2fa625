import HTTPTypes

/// Serialises a request head for HTTP/1.1: request line, `Host`, the caller's fields (less
/// the ones the client owns: `Host`, `Content-Length`, `Transfer-Encoding`), then the framing
/// the body needs. The caller's values are legal already (HTTPFields legalises them), the path
/// is checked here.
enum RequestHead {
    /// How the body is framed on the wire.
    enum Framing {
        case none
        case contentLength(Int)
        case chunked
    }

    /// Methods whose requests normally carry a body: they get `Content-Length: 0` when empty.
    static func expectsBody(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .put || method == .patch
    }

    /// The head's bytes. Throws `.invalidRequest` for a path that is not request-target bytes.
    static func serialize(_ request: HTTPRequest, authority: String, framing: Framing) throws -> [UInt8] {
        let path = request.path ?? "/"
        guard !path.isEmpty, path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x23 }) else {
            throw HTTPClientError(.invalidRequest("the path \(path.debugDescription) must be visible ASCII without spaces or '#' (percent-encode the rest)"))
        }
        var out: [UInt8] = []
        out.reserveCapacity(128 + path.utf8.count)
        out.append(contentsOf: request.method.rawValue.utf8)
        out.append(0x20)
        out.append(contentsOf: path.utf8)
        out.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        out.append(contentsOf: authority.utf8)
        out.append(contentsOf: [0x0D, 0x0A])
        for field in request.headerFields {
            let name = field.name
            if name.canonicalName == "host" || name == .contentLength || name == .transferEncoding { continue }
            out.append(contentsOf: name.rawName.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: field.value.utf8)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        switch framing {
        case .none: break
        case .contentLength(let n):
            out.append(contentsOf: "Content-Length: \(n)\r\n".utf8)
        case .chunked:
            out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }
}
