// A server configured in code; every field has a default, and several a SPINDLE_* environment
// variable.

import Spindle

let router = Router<Handler>()
router.get("/") { _, _ in .text("Hello\n") }

var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
configuration.workers = 4                          // default: the CPUs this process may use
configuration.pinWorkers = true                    // worker i on the i-th allowed CPU
configuration.idleTimeout = .seconds(30)           // keep-alive connections without a request
configuration.limits.maxBodyBytes = 8 << 20        // larger bodies: 413
configuration.shutdownGracePeriod = .seconds(5)    // for requests in flight after stop()

let server = Server(router: router, configuration: configuration)
try server.run()  // until SIGTERM, SIGINT or server.stop(); then drains and returns
