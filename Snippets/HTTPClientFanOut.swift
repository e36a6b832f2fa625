// Fan-out from one handler: ten requests at once on the worker's HTTPClient, each in a fiber
// of its own, joined with a WaitGroup (Docs/http-client.md).

import Foundation
import Spindle
import SpindleFibers
import SpindleHTTPClient

// snippet.hide
/// One HTTPClient per worker thread: a client belongs to the worker that first used it.
final class WorkerClients: @unchecked Sendable {
    // @unchecked Sendable: the dictionary is behind the lock, and each client is only handed to
    // the worker thread (scheduler) it was made for.
    private let lock = NSLock()
    private var clients: [ObjectIdentifier: HTTPClient] = [:]

    func forCurrentWorker() -> HTTPClient {
        let worker = ObjectIdentifier(Scheduler.current!)
        lock.lock()
        defer { lock.unlock() }
        if let client = clients[worker] { return client }
        let client = HTTPClient()
        clients[worker] = client
        return client
    }
}

let clients = WorkerClients()
let router = Router<Handler>()
// snippet.show
// snippet.fanout
router.on(.get, "/dashboard") { _, _ in
    let client = clients.forCurrentWorker()               // one HTTPClient per worker
    let urls = (0..<10).map { "http://127.0.0.1:9000/part/\($0)" }
    var parts = [String](repeating: "", count: urls.count)
    var failure: (any Error)? = nil
    let group = WaitGroup()
    for (i, url) in urls.enumerated() {
        group.add()
        Fiber.spawn {                                     // same worker: no locks needed
            defer { group.done() }
            do { parts[i] = String(decoding: try client.get(url).body.collect(), as: UTF8.self) }
            catch { failure = failure ?? error }
        }
    }
    try group.wait()                                      // parks the handler's fiber
    if let failure { throw failure }
    return .text(parts.joined(separator: "\n"))
}
// snippet.end
// snippet.hide
try Server(router: router).run()
