// Several schedulers on several OS threads at once: each thread's scheduler, fibers, stacks,
// exclusivity state and overflow stack are its own; work crosses threads only via submit.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleFibers
import Synchronization
import XCTest

private final class Counter {
    var values: [Int] = []
}

@inline(never)
private func appendWhileParked(_ values: inout [Int], _ value: Int) {
    Fiber.yield()
    values.append(value)
}

/// A workload that exercises the scheduler of whatever thread runs it: channels, yields,
/// sleeps, and fibers parked inside modify accesses. Returns a checksum.
private func workload(seed: Int) throws -> Int {
    try Scheduler.run { () throws -> Int in
        let channel = Channel<Int>(capacity: 4)
        let counter = Counter()
        let producers = (0..<20).map { p in
            Fiber.spawn {
                for i in 0..<50 {
                    try channel.send(seed + p * 1_000 + i)
                    if i % 10 == 0 { try Fiber.sleep(for: .microseconds(100)) }
                }
            }
        }
        let writers = (0..<20).map { i in Fiber.spawn { appendWhileParked(&counter.values, i) } }
        let readers = (0..<20).map { _ in Fiber.spawn { counter.values.count } }
        let consumer = Fiber.spawn { () -> Int in
            var sum = 0
            for v in channel { sum += v }
            return sum
        }
        for p in producers { try p.wait() }
        channel.close()
        for w in writers { try w.wait() }
        for r in readers { _ = try r.join() }
        XCTAssertEqual(counter.values.sorted(), Array(0..<20))
        return try consumer.join()
    }
}

private func expectedChecksum(seed: Int) -> Int {
    (0..<20).reduce(0) { sum, p in sum + (0..<50).reduce(0) { $0 + seed + p * 1_000 + $1 } }
}

final class ThreadsTests: XCTestCase {
    func testSchedulersOnSeveralThreadsAtOnce() throws {
        let results = Mutex<[Int: Int]>([:])
        let threads = (1...3).map { seed in
            OSThread {
                XCTAssertNil(Scheduler.current, "a new thread has no scheduler")
                do {
                    let sum = try workload(seed: seed)
                    results.withLock { $0[seed] = sum }
                } catch {
                    XCTFail("thread \(seed): \(error)")
                }
                XCTAssertNil(Scheduler.current)
            }
        }
        let mine = try workload(seed: 0)  // the test thread runs one at the same time
        for t in threads { t.join() }
        XCTAssertEqual(mine, expectedChecksum(seed: 0))
        let sums = results.withLock { $0 }
        for seed in 1...3 { XCTAssertEqual(sums[seed], expectedChecksum(seed: seed), "thread \(seed)") }
    }

    func testSchedulersHandWorkToEachOtherWithSubmit() throws {
        // A scheduler on another thread sends 100 requests to the test thread's scheduler, which
        // answers each by submitting back. Both sides wait in fibers on Events.
        let rounds = 100
        let serverReady = Mutex<Scheduler?>(nil)
        let answered = Atomic<Int>(0)
        let total = try Scheduler.run { () throws -> Int in
            let server = UncheckedSendable(Scheduler.current!)
            let done = Event()
            let sum = Box(0)
            let state = UncheckedSendable((done, sum))
            serverReady.withLock { $0 = server.value }
            let client = OSThread {
                Scheduler.run {
                    let client = UncheckedSendable(Scheduler.current!)
                    let reply = Event()
                    let replyBox = UncheckedSendable(reply)
                    for i in 1...rounds {
                        reply.reset()
                        server.value.submit {
                            // On the server thread: record, then answer on the client thread.
                            state.value.1.value += i
                            client.value.submit { replyBox.value.set() }
                        }
                        do { try reply.wait() } catch { XCTFail("\(error)") }
                        answered.add(1, ordering: .relaxed)
                    }
                    server.value.submit { state.value.0.set() }
                }
            }
            try done.wait()
            client.join()
            return sum.value
        }
        XCTAssertEqual(total, rounds * (rounds + 1) / 2)
        XCTAssertEqual(answered.load(ordering: .relaxed), rounds)
    }
}
