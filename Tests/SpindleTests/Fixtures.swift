// The application the conformance and behaviour tests talk to over the socket, and the limits
// it runs with (small, so 414/431/413 are cheap to provoke).
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleTestSupport

/// Limits of the conformance server: 256-byte targets, 1 KiB field sections, 12 fields,
/// 256 KiB bodies (several receive buffers: the receive buffer holds `maxHeadLength` + 4 KiB).
let testLimits = HTTPLimits(maxRequestTargetLength: 256, maxHeaderBytes: 1024, maxHeaderCount: 12, maxBodyBytes: 256 << 10)

struct PlainFailure: Error {}

/// Routes of the test application, with counters the tests inspect.
///
///   GET  /ok, /hello            200 "ok" / "Hello, World!"
///   GET  /seq/:n                200 "seq <n>"
///   POST /echo                  the body (readAll)
///   POST /count                 the number of body bytes (read in 4 KiB pieces)
///   POST /ignore-body           200 "ignored" without touching the body
///   POST /ignore-body-noted     the same, with an `onWritten` handler noting what was written
///   GET|POST /smuggled          counts; must never be reached in smuggling cases
///   GET  /throw                 throws a plain error (500)
///   GET  /forbidden             throws HTTPError(.forbidden, "nope") (403)
///   GET, DELETE /resource       405 for other methods, with Allow
///   GET  /stream                chunked: "alpha", (20 ms), "beta", "", 3000 pattern bytes
///   GET  /stream-fails          one chunk, then throws (the body is aborted)
///   GET  /sleep?ms=N            parks the fiber N ms
///   GET  /bytes/:n              200 with n pattern bytes (seed n)
///   POST /echo-wrapped          the body (readAll), any error thrown wrapped in a PlainFailure
///   GET  /touch-after-sleep?ms=N&probe=P  parks N ms (a cancellation ends it early), then
///                               reads its request's path and fields (views into the receive
///                               buffer); counts an X-Probe field that is no longer P
final class TestApplication: @unchecked Sendable {
    // @unchecked Sendable: counters are Locked.
    let smuggled = Locked(0)
    let ignoredBodies = Locked(0)
    /// "status bodyBytes" of each response `/ignore-body-noted`'s `onWritten` handler saw.
    let writtenAfterIgnoredBody = Locked<[String]>([])
    let inFlight = HighWaterCounter()
    let completed = Locked(0)
    /// Requests whose fields changed while their handler was parked (their buffer was reused).
    let requestsChangedUnderHandler = Locked(0)

    static let streamPieces: [[UInt8]] = [bytes("alpha"), bytes("beta"), [], pattern(seed: 7, count: 3000)]

    func install(_ router: Router<Handler>) {
        router.on(.get, "/ok") { _, _ in .text("ok") }
        router.on(.get, "/hello") { _, _ in .text("Hello, World!") }
        router.on(.get, "/seq/:n") { _, context in .text("seq \(try context.parameters.require("n", as: Int.self))") }
        router.on(.get, "/big/:n") { _, context in
            let n = try context.parameters.require("n", as: Int.self)
            return .bytes(pattern(seed: n, count: 60 << 10))  // below the 64 KiB batch threshold
        }
        router.on(.post, "/echo") { request, _ in .bytes(try request.body.readAll()) }
        router.on(.post, "/count") { request, _ in
            var total = 0
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try request.body.read(into: $0) }
                if n == 0 { break }
                total += n
            }
            return .text("\(total)")
        }
        router.on(.post, "/ignore-body") { [ignoredBodies] _, _ in
            ignoredBodies.withLock { $0 += 1 }
            return .text("ignored")
        }
        router.on(.post, "/ignore-body-noted") { [writtenAfterIgnoredBody] _, _ in
            var response = Response.text("ignored")
            response.onWritten { written in writtenAfterIgnoredBody.withLock { $0.append("\(written.status.code) \(written.bodyBytes)") } }
            return response
        }
        router.on(.get, "/smuggled") { [smuggled] _, _ in smuggled.withLock { $0 += 1 }; return .text("smuggled") }
        router.on(.post, "/smuggled") { [smuggled] _, _ in smuggled.withLock { $0 += 1 }; return .text("smuggled") }
        router.on(.get, "/throw") { _, _ -> Response in throw PlainFailure() }
        router.on(.get, "/forbidden") { _, _ -> Response in throw HTTPError(.forbidden, "nope") }
        router.on(.get, "/resource") { _, _ in .text("resource") }
        router.on(.delete, "/resource") { _, _ in .text("deleted") }
        router.on(.get, "/stream") { _, _ in
            .stream(contentType: "text/plain") { writer in
                try writer.write(TestApplication.streamPieces[0])
                try Fiber.sleep(for: .milliseconds(20))
                try writer.write(TestApplication.streamPieces[1])
                try writer.write(TestApplication.streamPieces[2])
                try writer.write(TestApplication.streamPieces[3])
            }
        }
        router.on(.get, "/stream-fails") { _, _ in
            .stream { writer in
                try writer.write("partial")
                throw PlainFailure()
            }
        }
        router.on(.get, "/bytes/:n") { _, context in
            let n = try context.parameters.require("n", as: Int.self)
            return .bytes(pattern(seed: n, count: n))
        }
        router.on(.post, "/echo-wrapped") { request, _ in
            do { return .bytes(try request.body.readAll()) } catch { throw PlainFailure() }
        }
        router.on(.get, "/touch-after-sleep") { [requestsChangedUnderHandler] request, _ in
            let probe = request.queryParameter("probe")
            try? Fiber.sleep(for: .milliseconds(Int(request.queryParameter("ms") ?? "") ?? 100))
            if let probe, request.header("x-probe") != probe { requestsChangedUnderHandler.withLock { $0 += 1 } }
            return .text(request.path + " " + (request.header("host") ?? "-") + " " + (request.header("x-probe") ?? "-"))
        }
        router.on(.get, "/sleep") { [inFlight, completed] request, _ in
            let ms = Int(request.queryParameter("ms") ?? "") ?? 100
            inFlight.increment()
            defer { inFlight.decrement() }
            try Fiber.sleep(for: .milliseconds(ms))
            completed.withLock { $0 += 1 }
            return .text("slept \(ms)\n")
        }
    }
}

/// The exact chunked wire form of `TestApplication.streamPieces` (empty writes send nothing).
var expectedStreamWire: [UInt8] {
    var out: [UInt8] = []
    for piece in TestApplication.streamPieces where !piece.isEmpty {
        out += bytes(String(piece.count, radix: 16) + "\r\n") + piece + bytes("\r\n")
    }
    return out + bytes("0\r\n\r\n")
}
