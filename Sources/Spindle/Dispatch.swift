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
    ///
    /// Cost: a route without parameters runs its handler straight from the lookup (no `Match`,
    /// no reference count); one with parameters decodes them first (`found`). Inlined into its
    /// callers (the worker's `respond`, the chain's innermost responder): a call of its own
    /// copied the ~80-byte `Response` once more on the way back.
    @inline(__always)
    func dispatch(_ request: Request, _ context: inout Context) -> Response {
        if request.isRewritten {
            var route = 0
            let (match, routeBodyLimit) = matchRewritten(request, route: &route)
            return answer(match, route: route, routeBodyLimit: routeBodyLimit, request, &context)
        }
        let path = request.head.pathBeforeQuery
        switch lookup(method: request.head.methodBytes, path: path) {
        case .route(let route, let captures):
            return route._withUnsafeGuaranteedRef { route in
                if let captures {
                    return answer(found(route, path: path, captures: captures), route: route.index,
                                  routeBodyLimit: route.maxBodyBytes, request, &context)
                }
                return run(route.handler, parameters: nil, route: route.index, routeBodyLimit: route.maxBodyBytes, request, &context)
            }
        case .answer(let match):
            return answer(match, route: 0, routeBodyLimit: nil, request, &context)
        }
    }

    /// `dispatch` once the request is matched: the handler of `.found` (the route with index
    /// `route`, with its own body limit `routeBodyLimit`, or nil), else the response without one.
    private func answer(_ match: Match, route: Int, routeBodyLimit: Int?, _ request: Request, _ context: inout Context) -> Response {
        switch match {
        case .found(let handler, let parameters):
            return run(handler, parameters: parameters, route: route, routeBodyLimit: routeBodyLimit, request, &context)
        case .notFound:
            return bodyFailure(request.bodyFailedBeforeRouting, request) ?? .text("Not Found\n", status: .notFound)
        case .methodNotAllowed(let allowed):
            if let failed = bodyFailure(request.bodyFailedBeforeRouting, request) { return failed }
            var response = Response.text("Method Not Allowed\n", status: .methodNotAllowed)
            let names = allowed.map(\.rawValue) + (allowed.contains(.get) && !allowed.contains(.head) ? ["HEAD"] : [])
            response.headerFields[.allow] = names.joined(separator: ", ")
            return response
        case .badPath(let reason):
            return bodyFailure(request.bodyFailedBeforeRouting, request) ?? .text("Bad Request: \(reason)\n", status: .badRequest)
        }
    }

    /// The response for a body that failed (`failed`) before the handler: its error (`413`,
    /// `400`, `408`); nil when it did not.
    @inline(__always)
    private func bodyFailure(_ failed: Bool, _ request: Request) -> Response? {
        guard failed, let failure = request.bodyFailure else { return nil }
        return .text(failure.message + "\n", status: failure.status)
    }

    /// Runs `handler`, the route with index `route` (and body limit `routeBodyLimit`), for
    /// `request`: `413` (or the body's failure) instead when its body failed; what it throws
    /// becomes a response (`ErrorResponses`).
    @inline(__always)
    private func run(_ handler: Responder, parameters: Parameters?, route: Int, routeBodyLimit: Int?,
                     _ request: Request, _ context: inout Context) -> Response {
        var bodyFailed = request.bodyFailedBeforeRouting
        if let routeBodyLimit { bodyFailed = request.source.applyRouteBodyLimit(routeBodyLimit) }
        if let failed = bodyFailure(bodyFailed, request) { return failed }
        if case .connection(let connection) = request.source {
            connection._withUnsafeGuaranteedRef { $0.routed(to: route) }
        } else if case .memory(let exchange) = request.source {
            exchange._withUnsafeGuaranteedRef { $0.route = route }
        }
        if let parameters, !parameters.isEmpty { context.parameters = parameters }
        do {
            return try handler(request, context)
        } catch {
            return ErrorResponses.response(for: error, request: request, context: context)
        }
    }

    /// The match for the path a middleware gave the request (`Request.path`), and its route's index.
    @inline(never)
    private func matchRewritten(_ request: Request, route: inout Int) -> (match: Match, maxBodyBytes: Int?) {
        var path = request.path
        return path.withUTF8 { matchRoute(method: request.head.methodBytes, path: UnsafeRawBufferPointer($0), route: &route) }
    }
}
