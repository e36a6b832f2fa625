import Dispatch
import Logging
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleIO

/// Serves requests without sockets on a fiber scheduler of its own (a thread started for the
/// test): each request's bytes are parsed, routed and answered in a fiber (`MemoryExchange`),
/// exactly as on a connection; the response bytes come back to the test thread.
final class InMemoryTransport: TestTransport, @unchecked Sendable {
    // @unchecked Sendable: `scheduler` is written once before `init` returns (published by the
    // semaphore); `stopped` lives on the scheduler's thread only (set from a submitted closure).
    private let router: Router<Handler>
    private let limits: HTTPLimits
    private let logger: Logger
    private var scheduler: Scheduler! = nil
    private var thread: OSThread! = nil
    private let stopped = StopSignal()
    private var nextRequestID: UInt64 = 0
    static let timeout = DispatchTimeInterval.seconds(60)

    init(router: Router<Handler>, limits: HTTPLimits, logger: Logger) throws {
        router.freeze()
        router.prepareResponder()
        self.router = router
        self.limits = limits
        self.logger = logger
        let ready = DispatchSemaphore(value: 0)
        thread = try OSThread.start(name: "spindle-test") { [self] in
            Scheduler.run {
                scheduler = Scheduler.current
                ready.signal()
                stopped.wait()
            }
        }
        ready.wait()
    }

    var port: Int? { nil }

    func exchange(_ request: [UInt8], heads: [Bool]) throws -> [TestResponse] {
        nextRequestID &+= 1
        let requestID = nextRequestID
        let result = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let (router, limits, logger) = (self.router, self.limits, self.logger)
        let posted = scheduler.submit {
            Fiber.spawnDetached {
                // Pipelined requests in one buffer are served one after another, as a connection does.
                var remaining = request
                var responses: [UInt8] = []
                for _ in heads {
                    let exchange = MemoryExchange(requestBytes: remaining, limits: limits)
                    responses += exchange.serve(router: router, logger: logger, requestID: requestID)
                    guard let consumed = exchange.consumedBytes, consumed < remaining.count else { remaining = []; break }
                    remaining.removeFirst(consumed)
                }
                result.bytes = responses
                done.signal()
            }
        }
        guard posted else { throw TestClientError("the in-memory server has stopped") }
        guard done.wait(timeout: .now() + Self.timeout) == .success else {
            throw TestClientError("no response within \(Self.timeout) (a handler that never returns?)")
        }
        var reader = ResponseReader()
        reader.append(result.bytes)
        reader.end()
        var responses: [TestResponse] = []
        for isHEAD in heads {
            guard let response = try reader.next(requestWasHEAD: isHEAD) else { break }
            responses.append(response)
        }
        guard responses.count == heads.count else {
            throw TestClientError("expected \(heads.count) responses, the server wrote \(responses.count)")
        }
        return responses
    }

    /// Ends the main fiber, joins the thread, and lets the scheduler go (closing its eventfd).
    func shutdown() {
        guard let scheduler, let thread else { return }
        _ = scheduler.submit { [stopped] in stopped.set() }
        thread.join()
        self.thread = nil  // (its closure holds this transport)
        self.scheduler = nil
    }
}

/// The response bytes a fiber produced, handed to the test thread after `done.signal()`.
private final class ResultBox: @unchecked Sendable {
    // @unchecked Sendable: written by the fiber before the semaphore is signalled, read by the
    // test thread after it waited on it.
    var bytes: [UInt8] = []
}

/// Keeps the scheduler's main fiber parked until the transport shuts down.
private final class StopSignal: @unchecked Sendable {
    // @unchecked Sendable: used on the scheduler's thread only (`wait` in its main fiber, `set`
    // from a closure submitted to it).
    private let event = Event()
    func wait() { try? event.wait() }
    func set() { event.set() }
}
