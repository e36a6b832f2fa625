// Middleware: the built-ins around every response, and a middleware of your own on a group of
// routes that hands a value to the handlers through the context.

import Spindle

struct User: Sendable {
    let name: String
}

enum CurrentUser: ContextKey {
    typealias Value = User
}

struct RequireToken: Middleware {
    func respond(to request: Request, context: Context, next: Responder) throws -> Response {
        guard request.header("authorization") == "Bearer secret" else {
            return .text("Unauthorized\n", status: .unauthorized)
        }
        var context = context
        context[CurrentUser.self] = User(name: "ada")
        return try next(request, context)
    }
}

let router = Router<Handler>()
router.add(middleware: RequestIDMiddleware())    // X-Request-Id: taken or made, echoed, logged
router.add(middleware: AccessLogMiddleware())    // one log line per response, once written
router.add(middleware: CORSMiddleware(allowedOrigins: .list(["https://example.com"])))

let api = router.group("/api").add(middleware: RequireToken())
api.get("/me") { _, context in
    .text("hello \(context[CurrentUser.self]?.name ?? "nobody")\n")
}
// snippet.hide
try Server(router: router).run()
