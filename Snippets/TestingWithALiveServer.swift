// A test against a live server: port 0 picks a free port, `start()` returns once listening, any
// HTTP client talks to it, and `stop()` and `wait()` end it. The tests run this program.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Spindle

let router = Router<Handler>()
router.get("/hello/:name") { _, context in
    .text("hello \(context.parameters["name"] ?? "")\n")
}

var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
configuration.workers = 1
let server = Server(router: router, configuration: configuration)
let address = try server.start()

let url = URL(string: "http://127.0.0.1:\(address.port)/hello/ada")!
let (body, response) = try await URLSession.shared.data(from: url)
precondition((response as? HTTPURLResponse)?.statusCode == 200)
precondition(String(decoding: body, as: UTF8.self) == "hello ada\n")

server.stop()
server.wait()
print("passed")
