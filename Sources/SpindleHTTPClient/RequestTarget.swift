import HTTPTypes

/// Where a request goes: the pool key (host, port, TLS or not) and the `Host` value, from an
/// `HTTPRequest`'s scheme and authority or from a URL string.
struct RequestTarget: Equatable {
    let key: PoolKey
    /// The authority as written (`example.org:8080`), sent as `Host`.
    let authority: String

    /// The target of `request`: scheme `http` (or none) or `https`, an authority `host[:port]`.
    init(_ request: HTTPRequest) throws {
        let secure = try Self.isSecure(scheme: request.scheme ?? "http")
        guard let authority = request.authority, !authority.isEmpty else {
            throw HTTPClientError(.invalidRequest("the request has no authority (host[:port]) to connect to"))
        }
        try self.init(authority: authority, secure: secure)
    }

    /// True for `https`, false for `http` (any case); throws `.unsupportedScheme` otherwise.
    static func isSecure<S: StringProtocol>(scheme: S) throws -> Bool {
        switch scheme.lowercased() {
        case "http": return false
        case "https": return true
        default: throw HTTPClientError(.unsupportedScheme(String(scheme)))
        }
    }

    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` (port 1...65535, default 80, or 443
    /// when `secure`).
    init(authority: String, secure: Bool) throws {
        let bytes = Array(authority.utf8)
        var host: ArraySlice<UInt8>
        var portText: ArraySlice<UInt8>? = nil
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else {
                throw HTTPClientError(.invalidURL("unclosed '[' in \(authority.debugDescription)"))
            }
            host = bytes[1..<close]
            let rest = bytes[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":") else { throw HTTPClientError(.invalidURL("junk after ']' in \(authority.debugDescription)")) }
                portText = rest.dropFirst()
            }
        } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            host = bytes[..<colon]
            portText = bytes[(colon + 1)...]
        } else {
            host = bytes[...]
        }
        guard !host.isEmpty else { throw HTTPClientError(.invalidURL("empty host in \(authority.debugDescription)")) }
        let allowed = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:%".utf8)
        guard host.allSatisfy({ allowed.contains($0) }) else {
            throw HTTPClientError(.invalidURL("the host in \(authority.debugDescription) has characters a host name cannot have"))
        }
        var port = secure ? 443 : 80
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else {
                throw HTTPClientError(.invalidURL("the port in \(authority.debugDescription) is not a number"))
            }
            port = portText.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard (1...65535).contains(port) else { throw HTTPClientError(.invalidURL("port \(port) is outside 1...65535")) }
        }
        self.key = PoolKey(host: String(decoding: host, as: UTF8.self).lowercased(), port: port, secure: secure)
        self.authority = authority
    }
}

/// A parsed `http://authority/path?query` or `https://…` URL (the fragment dropped).
struct HTTPClientURL {
    /// True for `https`.
    let secure: Bool
    let authority: String
    /// Path and query, `/` at least.
    let path: String

    /// Parses `url`; schemes other than `http` and `https` throw `.unsupportedScheme`, user info throws.
    init(_ url: String) throws {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else {
            throw HTTPClientError(.invalidURL("\(url.debugDescription) has no scheme"))
        }
        let secure = try RequestTarget.isSecure(scheme: url[..<colon])
        var rest = url[url.index(colon, offsetBy: 3)...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let pathStart = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = String(rest[..<pathStart])
        guard !authority.contains("@") else {
            throw HTTPClientError(.invalidURL("user info in \(url.debugDescription) is not supported (send an Authorization field)"))
        }
        _ = try RequestTarget(authority: authority, secure: secure)
        var path = String(rest[pathStart...])
        if path.isEmpty { path = "/" } else if path.first == "?" { path = "/" + path }
        self.secure = secure
        self.authority = authority
        self.path = path
    }
}
