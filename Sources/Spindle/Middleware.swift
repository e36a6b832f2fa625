/// What serves a request: a handler, or a middleware chain ending in one. The `next` a
/// middleware receives. Never throws in practice for the chain the server builds (errors are
/// answered by `ErrorResponses` at the innermost layer); declared `throws` so middleware can
/// throw to short-circuit with an error response.
public typealias Responder = @Sendable (Request, Context) throws -> Response

/// Code that wraps request handling: it sees the request before the handler (and may rewrite
/// it, or answer by itself without calling `next`), and the response after (and may rewrite
/// it, or register code to run once it is written: `Response.onWritten`).
///
/// Global middleware (`Router.add(middleware:)`) wraps every response the router produces:
/// handler responses, thrown errors, `404 Not Found`, `405 Method Not Allowed`, `400` for a
/// path with dot-segments or an invalid escape, `413` for a body over the limit. Group middleware
/// (`RouteGroup.add(middleware:)`) wraps the group's routes only. Middleware runs in the order
/// added, outermost first. Responses the server writes before a request exists (a malformed
/// head's `400`/`431`, `503` past the connection cap) are not seen by any middleware.
///
/// Runs in the request's fiber, on its worker thread: it may block in style like a handler.
/// Conformers are `Sendable` (workers share them); keep per-request state in the `Context`.
///
///     struct RequireToken: Middleware {
///         func respond(to request: Request, context: Context, next: Responder) throws -> Response {
///             guard request.header("authorization") == "Bearer secret" else {
///                 return .text("Unauthorized\n", status: .unauthorized)
///             }
///             return try next(request, context)
///         }
///     }
public protocol Middleware: Sendable {
    /// Answers `request`, usually by calling `next` (the rest of the chain) and returning or
    /// adapting its response. Errors thrown here are answered like a handler's.
    func respond(to request: Request, context: Context, next: Responder) throws -> Response
}

/// A middleware written as a closure (`router.add { request, context, next in … }`).
public struct ClosureMiddleware: Middleware {
    let body: @Sendable (Request, Context, Responder) throws -> Response

    /// Wraps `body`, which is called with the request, its context and the rest of the chain.
    public init(_ body: @escaping @Sendable (Request, Context, Responder) throws -> Response) {
        self.body = body
    }

    /// Calls the closure.
    public func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        try body(request, context, next)
    }
}

/// Composes middleware around a responder, outermost first; what a middleware throws is
/// answered there (`ErrorResponses`), so the ones outside it see a response. Cost: one closure
/// per middleware, allocated once when the routes are built; none per request.
func chain(_ middleware: [any Middleware], around responder: @escaping Responder) -> Responder {
    middleware.reversed().reduce(responder) { next, outer in
        { request, context in
            do {
                return try outer.respond(to: request, context: context, next: next)
            } catch {
                return ErrorResponses.response(for: error, request: request, context: context)
            }
        }
    }
}
