// Responses: text, JSON, bytes, any status and header field, a streamed body, and errors that
// become responses.

import Spindle
import SpindleFibers

struct Greeting: Encodable {
    let message: String
}

let router = Router<Handler>()
router.get("/text") { _, _ in .text("Hello, World!\n") }
router.get("/json") { _, _ in try .json(Greeting(message: "Hello, World!")) }
router.get("/bytes") { _, _ in .bytes([0x47, 0x49, 0x46, 0x38], contentType: "image/gif") }
router.get("/teapot") { _, _ in
    var response = Response.text("short and stout\n", status: .init(code: 418, reasonPhrase: "I'm a teapot"))
    response.headerFields[.cacheControl] = "no-store"
    return response
}
router.get("/countdown") { _, _ in
    .stream(contentType: "text/plain") { writer in
        for n in (1...3).reversed() {
            try writer.write("\(n)\n")                   // one chunk, sent now
            try Fiber.sleep(for: .milliseconds(100))
        }
    }
}
router.get("/missing") { _, _ in throw HTTPError(.notFound, "nothing here") }
// snippet.hide
try Server(router: router).run()
