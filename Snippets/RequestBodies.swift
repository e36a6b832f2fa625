// Request bodies: the whole body at once, decoded as JSON, or read piece by piece.

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
        let count = try chunk.withUnsafeMutableBytes { try request.body.read(into: $0) }
        if count == 0 { break }                    // the end of the body
        total += count
    }
    return .text("\(total) bytes\n")
}
// snippet.end
// snippet.hide
try Server(router: router).run()
