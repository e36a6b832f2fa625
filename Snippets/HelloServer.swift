// A server with two routes: plain text, and a handler that sleeps and makes a blocking call
// while only its own fiber waits.

import Spindle
import SpindleFibers

let router = Router<Handler>()
router.on(.get, "/plaintext") { _, _ in .text("Hello, World!") }
router.on(.get, "/users/:id") { request, context in
    let id = try context.parameters.require("id", as: Int.self)
    try Fiber.sleep(for: .milliseconds(10))           // parks this request's fiber only
    let user = try context.offload { "user \(id)" }   // a blocking call on a thread pool
    return .text(user)
}
try Server(router: router, configuration: .init(host: "127.0.0.1", port: 8080)).run()
