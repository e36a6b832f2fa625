// The admin listener: GET /metrics on a port of its own (Docs/observability.md).

import Spindle

let router = Router<Handler>()
router.get("/") { _, _ in .text("hello\n") }
// snippet.admin
var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
configuration.adminPort = 9180           // GET http://127.0.0.1:9180/metrics
configuration.adminHost = "127.0.0.1"    // the default
configuration.adminToken = nil           // required when adminHost is not loopback
let server = Server(router: router, configuration: configuration)
try server.run()
// snippet.end
