// A router tested with SpindleTesting: `Router.test` serves it in memory (through the real
// parser, router and response writer, without a socket) or live (a real server on port 0), and
// hands the test a blocking client. The tests run this program.

import Spindle
import SpindleTesting

let router = Router<Handler>()
router.get("/hello/:name") { _, context in
    .text("hello \(context.parameters["name"] ?? "")\n")
}

for mode in [TestMode.inMemory, .live] {
    try router.test(mode) { client in
        let response = try client.get("/hello/ada")
        precondition(response.status == .ok && response.bodyString == "hello ada\n")
    }
}
print("passed")
