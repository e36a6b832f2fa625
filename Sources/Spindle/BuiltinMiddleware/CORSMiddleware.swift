import HTTPTypes

/// Cross-Origin Resource Sharing (the Fetch standard's CORS protocol). For a request with an
/// `Origin` the policy allows, adds `Access-Control-Allow-Origin` (and `-Credentials`,
/// `-Expose-Headers`) to the response and `Vary: Origin`; answers preflights (`OPTIONS` with
/// `Access-Control-Request-Method`) itself with `204` and the allowed methods, headers and
/// max age, without calling `next`. A disallowed origin gets no CORS fields (the browser then
/// blocks the response); its preflight gets `403`. Requests without `Origin` pass untouched.
/// Cost: a header lookup per request; a few small strings for cross-origin ones.
public struct CORSMiddleware: Middleware {
    /// Which origins may read responses.
    public enum AllowedOrigins: Sendable {
        /// Any origin (`*`; with credentials, the request's origin is echoed instead, as the
        /// standard requires).
        case any
        /// Exactly these origins (`https://example.com`, scheme and port included).
        case list([String])
    }

    /// The origins allowed.
    public let allowedOrigins: AllowedOrigins
    /// Methods a preflight allows.
    public let allowedMethods: [HTTPRequest.Method]
    /// Request headers a preflight allows (lowercase names).
    public let allowedHeaders: [String]
    /// Response headers scripts may read, beyond the safelisted ones.
    public let exposedHeaders: [String]
    /// Whether cookies and credentials may be sent (`Access-Control-Allow-Credentials: true`).
    public let allowCredentials: Bool
    /// How long browsers may cache a preflight, in seconds.
    public let maxAge: Int

    /// A policy; the defaults allow any origin to call GET, HEAD, POST, PUT, PATCH and DELETE
    /// with `Content-Type` and `Authorization` headers, without credentials, preflights cached
    /// for 10 minutes.
    public init(allowedOrigins: AllowedOrigins = .any,
                allowedMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete],
                allowedHeaders: [String] = ["content-type", "authorization"],
                exposedHeaders: [String] = [], allowCredentials: Bool = false, maxAge: Int = 600) {
        self.allowedOrigins = allowedOrigins
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders.map { $0.lowercased() }
        self.exposedHeaders = exposedHeaders
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
    }

    /// Answers preflights, decorates cross-origin responses.
    public func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        guard let origin = request.header("origin") else { return try next(request, context) }
        let allowed = isAllowed(origin)
        if request.method == .options, let wanted = request.header("access-control-request-method") {
            guard allowed, allowedMethods.contains(where: { $0.rawValue == wanted }) else {
                var refused = Response(status: .forbidden)
                refused.headerFields[.vary] = "Origin"
                return refused
            }
            let requested = request.header("access-control-request-headers")?
                .split(separator: ",").map { $0.trimmingSpaces.lowercased() } ?? []
            guard requested.allSatisfy({ allowedHeaders.contains($0) }) else {
                var refused = Response(status: .forbidden)
                refused.headerFields[.vary] = "Origin"
                return refused
            }
            var response = Response(status: .noContent)
            decorate(&response, origin: origin)
            response.headerFields[.accessControlAllowMethods] = allowedMethods.map(\.rawValue).joined(separator: ", ")
            if !requested.isEmpty {
                response.headerFields[.accessControlAllowHeaders] = requested.joined(separator: ", ")
            }
            response.headerFields[.accessControlMaxAge] = String(maxAge)
            return response
        }
        var response = try next(request, context)
        if allowed {
            decorate(&response, origin: origin)
            if !exposedHeaders.isEmpty {
                response.headerFields[.accessControlExposeHeaders] = exposedHeaders.joined(separator: ", ")
            }
        } else {
            response.headerFields[.vary] = "Origin"
        }
        return response
    }

    private func isAllowed(_ origin: String) -> Bool {
        switch allowedOrigins {
        case .any: true
        case .list(let origins): origins.contains(origin)
        }
    }

    private func decorate(_ response: inout Response, origin: String) {
        if case .any = allowedOrigins, !allowCredentials {
            response.headerFields[.accessControlAllowOrigin] = "*"
        } else {
            response.headerFields[.accessControlAllowOrigin] = origin
            response.headerFields.append(HTTPField(name: .vary, value: "Origin"))
        }
        if allowCredentials { response.headerFields[.accessControlAllowCredentials] = "true" }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
