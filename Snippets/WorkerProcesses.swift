// A server whose workers are processes under a supervisor: a crash ends one process, which the
// supervisor replaces, and SIGHUP replaces them all (Docs/processes.md).

import Spindle

let router = Router<Handler>()
router.get("/") { _, _ in .text("Hello\n") }

var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
configuration.processes = 4                        // worker processes, under a supervisor
configuration.workers = 1                          // worker threads in each
try Server(router: router, configuration: configuration).run()  // returns after SIGTERM
