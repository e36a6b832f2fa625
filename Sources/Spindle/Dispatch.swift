import HTTPTypes
import SpindleHTTP

// How the server answers a request with the router: the global middleware (if any) around
// `dispatch`, which routes, runs the route's handler (inside its group's middleware) and turns
// what it throws, or the lack of a route, into a response. Both the connections and
// `SpindleTesting` call `respond`.
extension Router where Handler == Responder {
    /// Adds middleware around everything this router answers, 404 and 405 included (see
    /// `Middleware`), after the middleware added before it. Returns the router, for chaining.
    @discardableResult
    public func add(middleware: any Middleware) -> Router {
        requireNotFrozen("middleware \(type(of: middleware))")
        globalMiddleware.append(middleware)
        return self
    }

    /// Adds a closure as global middleware (see `add(middleware:)`).
    @discardableResult
    public func add(_ body: @escaping @Sendable (Request, Context, Responder) throws -> Response) -> Router {
        add(middleware: ClosureMiddleware(body))
    }

    /// `on(.get, pattern, handler)`; returns the router, for chaining.
    @discardableResult
    public func get(_ pattern: String, _ handler: @escaping Responder) -> Router { on(.get, pattern, handler); return self }
    /// `on(.post, pattern, maxBodyBytes:, handler)` (`maxBodyBytes`: the route's own body
    /// limit, see `on`); returns the router, for chaining.
    @discardableResult
    public func post(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Responder) -> Router {
        on(.post, pattern, maxBodyBytes: maxBodyBytes, handler); return self
    }
    /// `on(.put, pattern, maxBodyBytes:, handler)` (`maxBodyBytes`: the route's own body
    /// limit, see `on`); returns the router, for chaining.
    @discardableResult
    public func put(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Responder) -> Router {
        on(.put, pattern, maxBodyBytes: maxBodyBytes, handler); return self
    }
    /// `on(.patch, pattern, maxBodyBytes:, handler)` (`maxBodyBytes`: the route's own body
    /// limit, see `on`); returns the router, for chaining.
    @discardableResult
    public func patch(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Responder) -> Router {
        on(.patch, pattern, maxBodyBytes: maxBodyBytes, handler); return self
    }
    /// `on(.delete, pattern, handler)`; returns the router, for chaining.
    @discardableResult
    public func delete(_ pattern: String, _ handler: @escaping Responder) -> Router { on(.delete, pattern, handler); return self }

    /// A group of routes under `prefix` with middleware of their own (see `RouteGroup`).
    public func group(_ prefix: String) -> RouteGroup {
        RouteGroup(router: self, prefix: RouteGroup.normalized(prefix), middleware: [])
    }

    /// Composes the global middleware around `dispatch`. The server calls it once, when it
    /// starts, after `freeze()`.
    package func prepareResponder() {
        guard chainedResponder == nil, !globalMiddleware.isEmpty else { return }
        chainedResponder = chain(globalMiddleware, around: { [self] request, context in
            var context = context
            return dispatch(request, &context)
        })
    }

    /// The response to `request`: through the global middleware when there is any, else
    /// straight to `dispatch`. Runs the handler in the calling fiber; never throws.
    /// `context` is the request's, built by the caller; without global middleware it is routed
    /// in place (no copy of it per request).
    @inline(__always)
    func respond(_ request: Request, _ context: inout Context) -> Response {
        if let chainedResponder {
            do { return try chainedResponder(request, context) } catch {
                return ErrorResponses.response(for: error, request: request, context: context)  // (the chain answers its errors)
            }
        }
        return dispatch(request, &context)
    }

    /// Routes `request` and runs the route's handler: its response, or the response for what it
    /// threw (`ErrorResponses`); `404` without a route, `405` (with `Allow`) without one for the
    /// method; a request whose body is over the limit — the route's own (`on(_:_:maxBodyBytes:_:)`)
    /// or the server's — gets `413` without reaching a handler. A request of a connection that
    /// found a route: the connection notes its index for the per-route metrics (one store).
    func dispatch(_ request: Request, _ context: inout Context) -> Response {
        var route = 0
        let (match, routeBodyLimit) = request.isRewritten ? matchRewritten(request, route: &route)
                                                          : matchRoute(method: request.head.methodBytes, path: request.head.routingPath, route: &route)
        var bodyFailed = request.bodyFailedBeforeRouting
        if let routeBodyLimit, case .found = match { bodyFailed = request.source.applyRouteBodyLimit(routeBodyLimit) }
        if bodyFailed, let failure = request.bodyFailure {
            return .text(failure.message + "\n", status: failure.status)
        }
        switch match {
        case .found(let handler, let parameters):
            if case .connection(let connection) = request.source {
                connection._withUnsafeGuaranteedRef { $0.routed(to: route) }
            }
            if !parameters.isEmpty { context.parameters = parameters }
            do {
                return try handler(request, context)
            } catch {
                return ErrorResponses.response(for: error, request: request, context: context)
            }
        case .notFound:
            return .text("Not Found\n", status: .notFound)
        case .methodNotAllowed(let allowed):
            var response = Response.text("Method Not Allowed\n", status: .methodNotAllowed)
            let names = allowed.map(\.rawValue) + (allowed.contains(.get) && !allowed.contains(.head) ? ["HEAD"] : [])
            response.headerFields[.allow] = names.joined(separator: ", ")
            return response
        case .badPath(let reason):
            return .text("Bad Request: \(reason)\n", status: .badRequest)
        }
    }

    /// The match for the path a middleware gave the request (`Request.path`), and its route's index.
    @inline(never)
    private func matchRewritten(_ request: Request, route: inout Int) -> (match: Match, maxBodyBytes: Int?) {
        var path = request.path
        return path.withUTF8 { matchRoute(method: request.head.methodBytes, path: UnsafeRawBufferPointer($0), route: &route) }
    }
}
