// Static files under a URL prefix (as middleware, or the handler of a wildcard route) and a
// Server-Sent Events endpoint (Docs/static-files.md).

import Spindle
import SpindleFibers

let router = Router<Handler>()
// snippet.files
let assets = try StaticFiles(root: "public", urlPrefix: "/assets")
router.add(middleware: assets)                 // GET /assets/app.js → public/app.js; anything else → next
// or as the handler of a wildcard route under the same prefix:
router.get("/assets/*", assets.handler)        // 404 when there is no such file
// snippet.end
// snippet.events
router.get("/ticks") { request, _ in
    .serverSentEvents(for: request) { stream in
        var n = 0
        while stream.isConnected {
            try stream.send(event: "tick", id: String(n), data: "\(n)")
            n += 1
            try Fiber.sleep(for: .seconds(1))
        }
    }
}
// snippet.end
// snippet.hide
try Server(router: router).run()
