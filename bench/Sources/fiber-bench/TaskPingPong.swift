import CFiberBench
import Dispatch
import Synchronization

/// (d) The Swift concurrency peer: two `Task`s handing a turn back and forth through
/// `withUnsafeContinuation`, on the default global executor. `fiber-bench one task` runs it
/// pinned like the rest of the suite; `one task-unpinned` first lets the process use every CPU
/// (`bench_unpin`), as a user would run it.
enum TaskPingPong {
    /// Runs `repetitions` (+1 warm-up) measurements of `roundTrips` round trips and returns ns per
    /// hand-off (two per round trip). Blocks the calling thread, which must not be a Swift
    /// concurrency thread.
    static func run(roundTrips n: Int, repetitions: Int) -> Samples {
        let result = Mutex(Samples())
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            _ = await measureOnce(roundTrips: n)  // warm-up
            for _ in 0..<repetitions {
                let value = await measureOnce(roundTrips: n)
                result.withLock { $0.append(value) }
            }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }

    /// One measurement: a pinger task and a ponger task, `n` round trips.
    private static func measureOnce(roundTrips n: Int) async -> Double {
        let toPong = Baton()
        let toPing = Baton()
        let start = bench_now_ns()
        let ponger = Task {
            for _ in 0..<n {
                await toPong.wait()
                toPing.signal()
            }
        }
        for _ in 0..<n {
            toPong.signal()
            await toPing.wait()
        }
        await ponger.value
        return nsPerOperation(since: start, operations: 2 * n)
    }
}

/// A binary signal between two tasks: `wait()` suspends until the next `signal()` (or returns
/// at once when a signal is already pending). The cheapest correct hand-off Swift concurrency
/// offers: one lock and one `UnsafeContinuation` per wait.
final class Baton: Sendable {
    private enum State {
        case idle
        case signaled
        case waiting(UnsafeContinuation<Void, Never>)
    }

    private let state = Mutex(State.idle)

    /// Resumes the waiter, or leaves the signal pending for the next `wait()`.
    func signal() {
        let waiter = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            switch state {
            case .idle:
                state = .signaled
                return nil
            case .waiting(let continuation):
                state = .idle
                return continuation
            case .signaled:
                preconditionFailure("Baton signalled twice without a wait")
            }
        }
        waiter?.resume()
    }

    /// Suspends until signalled (consumes one signal).
    func wait() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if case .signaled = state {
                    state = .idle
                    return true
                }
                state = .waiting(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
