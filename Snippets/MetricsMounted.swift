// /metrics mounted on the main port instead of the admin listener (Docs/observability.md).

import Spindle

let router = Router<Handler>()
let configuration = ServerConfiguration(host: "127.0.0.1", port: 8080)
// snippet.mounted
let server = Server(router: router, configuration: configuration)
router.get("/metrics", server.metricsHandler(token: "s3cret"))   // before run()/start()
// snippet.end
try server.run()
