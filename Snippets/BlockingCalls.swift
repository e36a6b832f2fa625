// Blocking calls in a handler: sleeping, a blocking function on the offload pool, and async
// code through Swift concurrency. Each parks the request's fiber; the worker thread serves
// other requests meanwhile.

import Spindle
import SpindleFibers

// snippet.hide
/// Stands for a blocking library call (a C library, getaddrinfo, CPU-heavy work).
func checksum(_ text: String) -> Int {
    text.utf8.reduce(0) { ($0 &* 31) &+ Int($1) }
}

/// Stands for an async library.
func fetchQuote() async throws -> String {
    try await Task.sleep(for: .milliseconds(10))
    return "fibers all the way down"
}

// snippet.show
let router = Router<Handler>()
router.get("/slow") { _, _ in
    try Fiber.sleep(for: .milliseconds(200))        // a timer, no thread blocked
    return .text("done\n")
}
router.get("/checksum/:text") { _, context in
    let text = context.parameters["text"] ?? ""
    let sum = try context.offload { checksum(text) }  // runs on an offload thread
    return .text("\(sum)\n")
}
router.get("/quote") { _, context in
    let quote = try context.await { try await fetchQuote() }
    return .text(quote + "\n")
}
// snippet.hide
try Server(router: router).run()
