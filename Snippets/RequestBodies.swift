// Request bodies: the whole body at once, decoded as JSON, or read piece by piece; a route
// with a body limit of its own.

import Foundation
import Spindle

struct NewUser: Decodable {
    let name: String
}

let router = Router<Handler>()
// snippet.whole
router.post("/users") { request, _ in
    let body = try request.body.readAll()          // at most the server's body limit
    let user = try JSONDecoder().decode(NewUser.self, from: Data(body))  // bad JSON: 400
    return .text("hello \(user.name)\n", status: .created)
}
// snippet.end
// snippet.pieces
router.post("/upload") { request, _ in
    var total = 0
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = try request.body.read(into: &chunk)  // fills the start of chunk
        if count == 0 { break }                    // the end of the body
        total += count
    }
    return .text("\(total) bytes\n")
}
// snippet.end
// snippet.routeLimit
router.put("/videos/:name", maxBodyBytes: 4 << 30) { request, _ in
    var total = 0
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while case let count = try request.body.read(into: &chunk), count > 0 {
        total += count                             // up to 4 GiB here, 1 MiB elsewhere
    }
    return .text("\(total) bytes\n")
}
// snippet.end
// snippet.hide
try Server(router: router).run()
