import HTTPTypes

/// The request a redirect response leads to, under the rules of `RedirectPolicy`.
enum Redirect {
    /// Statuses that redirect (with a `Location`).
    static func isRedirect(_ code: Int) -> Bool { [301, 302, 303, 307, 308].contains(code) }

    /// The next request and body after `response` to `request`, or nil when the response is to
    /// be returned as it is (not a redirect, no Location, or a 307/308 with a streamed body).
    static func next(after response: HTTPClientResponse, to request: HTTPRequest, body: HTTPClientRequestBody,
                     from target: RequestTarget) throws -> (HTTPRequest, HTTPClientRequestBody)? {
        let code = response.status.code
        guard isRedirect(code), let location = response.headerFields[.location], !location.isEmpty else { return nil }
        var next = request
        var nextBody = body
        let keepsMethod = code == 307 || code == 308
        if keepsMethod {
            guard body.isRepeatable else { return nil }
        } else if (code == 303 && request.method != .head) || request.method == .post {
            next.method = .get
            nextBody = .empty
            next.headerFields[.contentType] = nil
            next.headerFields[.contentLength] = nil
            next.headerFields[.transferEncoding] = nil
        }
        let (secure, authority, path) = try resolve(location, from: target, path: request.path ?? "/")
        next.scheme = secure ? "https" : "http"
        next.authority = authority
        next.path = path
        if try RequestTarget(authority: authority, secure: secure).key != target.key {
            next.headerFields[.authorization] = nil
            next.headerFields[.proxyAuthorization] = nil
            next.headerFields[.cookie] = nil
        }
        return (next, nextBody)
    }

    /// Resolves a `Location` against the current authority and path (RFC 3986 §5.2, without
    /// dot-segment removal): an absolute `http` or `https` URL, a network-path `//host/…` (the
    /// current scheme), an absolute path `/…`, or a relative path (against the current path's
    /// directory). The fragment is dropped. Throws `.unsupportedScheme` for other schemes.
    static func resolve(_ location: String, from target: RequestTarget, path: String) throws -> (secure: Bool, authority: String, path: String) {
        let secure = target.key.secure
        let authority = target.authority
        var location = Substring(location)
        if let hash = location.firstIndex(of: "#") { location = location[..<hash] }
        if location.hasPrefix("//") {
            let url = try HTTPClientURL((secure ? "https:" : "http:") + location)
            return (url.secure, url.authority, url.path)
        }
        let firstSlash = location.firstIndex(of: "/") ?? location.endIndex
        if let colon = location.firstIndex(of: ":"), colon < firstSlash {
            _ = try RequestTarget.isSecure(scheme: location[..<colon])
            let url = try HTTPClientURL(String(location))
            return (url.secure, url.authority, url.path)
        }
        if location.hasPrefix("/") { return (secure, authority, String(location)) }
        var base = Substring(path)
        if let query = base.firstIndex(of: "?") { base = base[..<query] }
        let directory = base.lastIndex(of: "/").map { base[...$0] } ?? "/"
        if location.hasPrefix("?") { return (secure, authority, String(base) + location) }
        return (secure, authority, String(directory) + location)
    }
}
