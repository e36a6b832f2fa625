import SpindleFibers
import SpindleIO

/// Runs `body` on the only worker of a new `Runtime` (the backend `SPINDLE_IO` chooses, as the
/// Makefile's second pass sets it), stops the runtime after it and returns `body`'s result or
/// rethrows its error. Fails the test instead of hanging when it takes longer than `timeout`.
/// For code that must run in a fiber (a client, a blocking call) from a test's thread.
public func onWorker<T: Sendable>(timeout: Duration = .seconds(60), _ body: @escaping @Sendable () throws -> T) throws -> T {
    try withTimeout(timeout, "the test's worker") {
        let runtime = Runtime(configuration: Runtime.Configuration(workers: 1))
        let result = Locked<Result<T, any Error>?>(nil)
        try runtime.run { worker in
            result.set(Result { try body() })
            worker.runtime.stop()
        }
        return try result.current!.get()
    }
}
