import HTTPTypes

/// Routes that share a path prefix and middleware: `router.group("/api")`. Routes added to a
/// group are registered on its router under `prefix + pattern`, wrapped in the group's
/// middleware (outermost first, after the router's global middleware). Groups nest; a nested
/// group adds its prefix and middleware to its parent's. Build groups at startup, like routes.
///
///     let api = router.group("/api").add(middleware: RequireToken())
///     api.get("/me") { request, context in … }          // GET /api/me, token required
///     api.group("/admin").get("/stats") { … }          // GET /api/admin/stats, token required
///
/// Cost: composed once per route at registration; nothing per request beyond the middleware
/// themselves.
public final class RouteGroup {
    /// The router the routes go to.
    public let router: Router<Handler>
    /// What the routes' patterns are prefixed with (no trailing slash; empty for the root).
    public let prefix: String
    private var middleware: [any Middleware]

    init(router: Router<Handler>, prefix: String, middleware: [any Middleware]) {
        self.router = router
        self.prefix = prefix
        self.middleware = middleware
    }

    /// Adds middleware around the routes added to this group from now on (and to groups made
    /// from it afterwards). Returns the group, for chaining.
    @discardableResult
    public func add(middleware: any Middleware) -> RouteGroup {
        router.requireNotFrozen("RouteGroup.add(middleware:)")
        self.middleware.append(middleware)
        return self
    }

    /// Adds a closure as middleware (see `add(middleware:)`).
    @discardableResult
    public func add(_ body: @escaping @Sendable (Request, Context, Responder) throws -> Response) -> RouteGroup {
        add(middleware: ClosureMiddleware(body))
    }

    /// A group inside this one: `prefix` appended to this group's, this group's middleware first.
    public func group(_ prefix: String) -> RouteGroup {
        RouteGroup(router: router, prefix: self.prefix + RouteGroup.normalized(prefix), middleware: middleware)
    }

    /// Registers `handler` for `method` on `prefix + pattern`, inside the group's middleware;
    /// `maxBodyBytes` gives it a body limit of its own (see `Router.on`), which the group's
    /// middleware read under too.
    @discardableResult
    public func on(_ method: HTTPRequest.Method, _ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) -> RouteGroup {
        let full = pattern == "/" || pattern.isEmpty ? (prefix.isEmpty ? "/" : prefix) : prefix + pattern
        router.on(method, full, maxBodyBytes: maxBodyBytes, wrapped(handler))
        return self
    }

    /// `on(.get, pattern, handler)`.
    @discardableResult
    public func get(_ pattern: String, _ handler: @escaping Handler) -> RouteGroup { on(.get, pattern, handler) }
    /// `on(.post, pattern, maxBodyBytes:, handler)`.
    @discardableResult
    public func post(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) -> RouteGroup {
        on(.post, pattern, maxBodyBytes: maxBodyBytes, handler)
    }
    /// `on(.put, pattern, maxBodyBytes:, handler)`.
    @discardableResult
    public func put(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) -> RouteGroup {
        on(.put, pattern, maxBodyBytes: maxBodyBytes, handler)
    }
    /// `on(.patch, pattern, maxBodyBytes:, handler)`.
    @discardableResult
    public func patch(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) -> RouteGroup {
        on(.patch, pattern, maxBodyBytes: maxBodyBytes, handler)
    }
    /// `on(.delete, pattern, handler)`.
    @discardableResult
    public func delete(_ pattern: String, _ handler: @escaping Handler) -> RouteGroup { on(.delete, pattern, handler) }

    /// The handler inside the group's middleware, its errors answered first (so the middleware
    /// see a response).
    private func wrapped(_ handler: @escaping Handler) -> Handler {
        let answering: Handler = { request, context in
            do { return try handler(request, context) } catch { return ErrorResponses.response(for: error, request: request, context: context) }
        }
        return middleware.isEmpty ? answering : chain(middleware, around: answering)
    }

    /// `prefix` with one leading slash and no trailing one ("" for "/" or "").
    static func normalized(_ prefix: String) -> String {
        var trimmed = Substring(prefix)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty else { return "" }
        return trimmed.hasPrefix("/") ? String(trimmed) : "/" + trimmed
    }
}
