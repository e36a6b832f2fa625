// Routes: static segments, parameters, a wildcard, the query string, and groups of routes
// under a shared prefix.

import Spindle

let router = Router<Handler>()
// snippet.parameters
router.get("/health") { _, _ in .text("ok\n") }
router.get("/users/:id") { _, context in
    let id = try context.parameters.require("id", as: Int.self)  // not an Int: 400
    return .text("user \(id)\n")
}
router.get("/files/*") { _, context in
    .text("file \(context.parameters["*"] ?? "")\n")
}
// snippet.end
// snippet.query
router.get("/search") { request, _ in                 // GET /search?q=fibers&limit=10
    let text = request.queryParameter("q") ?? ""
    let limit = Int(request.queryParameter("limit") ?? "") ?? 20
    return .text("\(text), at most \(limit) results\n")
}
// snippet.end
// snippet.groups
let api = router.group("/api/v1")
api.get("/status") { _, _ in .text("up\n") }          // GET /api/v1/status
api.post("/jobs") { request, _ in                     // POST /api/v1/jobs
    let body = try request.body.readAll()
    return .text("queued \(body.count) bytes\n", status: .accepted)
}
// snippet.end
// snippet.hide
try Server(router: router).run()
