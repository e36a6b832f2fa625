// Request memory: a copy in the request's arena (no malloc; gone once the response is written),
// and a pool of reusable objects for code of your own that runs on one thread.

import Spindle
import SpindleMemory

// snippet.arena
let router = Router<Handler>()
router.post("/checksum") { request, context in
    let body = try request.body.readAll()
    let copy = body.withUnsafeBytes { context.arena.copy($0) }
    let sum = copy.withUnsafeBytes { bytes in bytes.reduce(0) { $0 &+ Int($1) } }
    return .text("\(sum)\n")
}
// snippet.end
// snippet.pool
final class Scratch {
    var bytes: [UInt8] = []
}

let scratchPool = ObjectPool<Scratch>(preallocate: 8, make: { Scratch() },
                                      prepareForReuse: { $0.bytes.removeAll(keepingCapacity: true) })
if let scratch = scratchPool.take() {               // nil only past maximumCount in use
    scratch.bytes.append(contentsOf: "work".utf8)
    scratchPool.giveBack(scratch)                   // emptied, kept for the next take()
}
// snippet.end
