import Dispatch
import Logging
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleIO

/// Serves requests without sockets on an I/O worker of its own (a one-worker `Runtime` on a
/// thread started for the test, with the backend `SPINDLE_IO` chooses, so handlers may read
/// files and use sockets as on a server): each request's bytes are parsed, routed and answered
/// in a fiber (`MemoryExchange`), exactly as on a connection; the response bytes come back to
/// the test thread.
final class InMemoryTransport: TestTransport, @unchecked Sendable {
    // @unchecked Sendable: `scheduler` and `startError` are written once before `init` returns
    // (published by the semaphore), and only read afterwards.
    private let router: Router<Handler>
    private let limits: HTTPLimits
    private let logger: Logger
    private let runtime = Runtime(configuration: .init(workers: 1, pinWorkers: false))
    private var scheduler: Scheduler! = nil
    private var startError: (any Error)? = nil
    private var thread: OSThread! = nil
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
            do {
                try runtime.run { [self] _ in
                    scheduler = Scheduler.current
                    ready.signal()
                    try Event().wait()  // until shutdown's runtime.stop() cancels this fiber
                }
            } catch {
                startError = error
                ready.signal()
            }
        }
        ready.wait()
        if let startError {
            thread.join()
            throw startError
        }
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

    /// Stops the runtime (its first fiber is cancelled; requests in flight finish), joins the
    /// thread, and lets the scheduler go.
    func shutdown() {
        guard scheduler != nil, let thread else { return }
        runtime.stop()
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
