// Channels: bounded (senders park when full, in an exact order), unbounded, close semantics,
// deadlines, iteration, many producers and consumers.
import SpindleFibers
import SpindleTestSupport
import XCTest

final class ChannelTests: XCTestCase {
    func testBoundedChannelParksTheSenderWhenFull() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 2)
            let log = Log()
            let producer = Fiber.spawn {
                for i in 1...6 {
                    try channel.send(i)
                    log("p\(i)")
                }
            }
            let consumer = Fiber.spawn {
                for _ in 1...6 {
                    let value = try channel.receive()
                    log("c\(value.map(String.init) ?? "nil")")
                }
            }
            try producer.join()
            try consumer.join()
            XCTAssertEqual(log.entries, ["p1", "p2", "c1", "c2", "p3", "p4", "c3", "c4", "p5", "p6", "c5", "c6"])
            XCTAssertEqual(channel.count, 0)
        }
    }

    func testFullChannelHoldsCapacityValues() throws {
        try Scheduler.run {
            let channel = Channel<String>(capacity: 3)
            XCTAssertEqual(channel.capacity, 3)
            var sent = 0
            let producer = Fiber.spawn {
                for i in 0..<10 {
                    try channel.send("v\(i)")
                    sent += 1
                }
            }
            Fiber.yield()
            XCTAssertEqual(sent, 3)
            XCTAssertEqual(channel.count, 3)
            XCTAssertFalse(producer.isFinished)
            XCTAssertEqual(channel.tryReceive(), "v0")
            XCTAssertEqual(sent, 3, "the sender was only made runnable")
            Fiber.yield()
            XCTAssertEqual(sent, 4)
            XCTAssertEqual(channel.count, 3)
            var received: [String] = []
            while received.count < 9 {
                if let v = try channel.receive() { received.append(v) }
            }
            try producer.join()
            XCTAssertEqual(received, (1..<10).map { "v\($0)" })
        }
    }

    func testReceiverParksUntilAValueArrives() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let log = Log()
            let receiver = Fiber.spawn {
                log("receiving")
                let v = try channel.receive()
                log("got \(v!)")
            }
            Fiber.yield()
            log("sending")
            try channel.send(5)
            log("sent")
            try receiver.join()
            XCTAssertEqual(log.entries, ["receiving", "sending", "sent", "got 5"])
        }
    }

    func testValuesArriveInOrder() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 3)
            let producer = Fiber.spawn {
                for i in 0..<2_000 { try channel.send(i) }
                channel.close()
            }
            var received: [Int] = []
            for v in channel { received.append(v) }
            try producer.join()
            XCTAssertEqual(received, Array(0..<2_000))
        }
    }

    func testUnboundedSendNeverParks() throws {
        try Scheduler.run {
            let channel = Channel<Int>.unbounded()
            XCTAssertEqual(channel.capacity, Int.max)
            let log = Log()
            Fiber.spawn { log("other fiber ran") }
            for i in 1...10_000 { try channel.send(i) }
            XCTAssertEqual(log.entries, [], "10,000 sends without a suspension")
            XCTAssertEqual(channel.count, 10_000)
            channel.close()
            var sum = 0
            for v in channel { sum += v }
            XCTAssertEqual(sum, 50_005_000)
            XCTAssertEqual(channel.count, 0)
        }
    }

    func testTrySendAndTryReceive() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 2)
            XCTAssertNil(channel.tryReceive())
            XCTAssertTrue(channel.trySend(1))
            XCTAssertTrue(channel.trySend(2))
            XCTAssertFalse(channel.trySend(3), "full")
            XCTAssertEqual(channel.count, 2)
            XCTAssertEqual(channel.tryReceive(), 1)
            XCTAssertTrue(channel.trySend(3))
            XCTAssertEqual(channel.tryReceive(), 2)
            XCTAssertEqual(channel.tryReceive(), 3)
            XCTAssertNil(channel.tryReceive())

            // trySend wakes a parked receiver.
            let receiver = Fiber.spawn { try channel.receive() }
            Fiber.yield()
            XCTAssertTrue(channel.trySend(9))
            XCTAssertEqual(try receiver.join(), 9)
        }
    }

    // MARK: - close

    func testCloseDrainsBufferedValuesThenNil() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 4)
            try channel.send(1)
            try channel.send(2)
            channel.close()
            XCTAssertTrue(channel.isClosed)
            XCTAssertEqual(try channel.receive(), 1)
            XCTAssertEqual(try channel.receive(), 2)
            XCTAssertEqual(try channel.receive(), nil)
            XCTAssertEqual(try channel.receive(), nil, "stays drained")
            XCTAssertThrows(ChannelClosedError(), try channel.send(3))
            XCTAssertFalse(channel.trySend(3))
            channel.close()  // idempotent
            XCTAssertTrue(channel.isClosed)
            XCTAssertEqual(channel.count, 0)
        }
    }

    func testCloseWakesParkedReceiversWithNil() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let receivers = (0..<3).map { _ in Fiber.spawn { try channel.receive() } }
            Fiber.yield()
            XCTAssertFalse(receivers.contains { $0.isFinished })
            channel.close()
            for r in receivers { XCTAssertEqual(try r.join(), nil) }
        }
    }

    func testCloseFailsParkedSendersAndKeepsBufferedValues() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            try channel.send(0)
            let senders = (1...3).map { i in Fiber.spawn { try channel.send(i) } }
            Fiber.yield()
            XCTAssertEqual(channel.count, 1)
            channel.close()
            for s in senders { XCTAssertThrows(ChannelClosedError(), try s.join()) }
            XCTAssertEqual(try channel.receive(), 0)
            XCTAssertEqual(try channel.receive(), nil)
        }
    }

    func testCloseWhileReceiverIteratesEndsTheLoop() throws {
        try Scheduler.run {
            let channel = Channel<String>.unbounded()
            let consumer = Fiber.spawn { () -> [String] in
                var seen: [String] = []
                for s in channel { seen.append(s) }
                return seen
            }
            for word in ["a", "b", "c"] {
                try channel.send(word)
                Fiber.yield()
            }
            channel.close()
            XCTAssertEqual(try consumer.join(), ["a", "b", "c"])
        }
    }

    // MARK: - deadlines

    func testReceiveDeadlineThrowsTimeoutError() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let start = Deadline.now
            XCTAssertThrows(TimeoutError(), try channel.receive(deadline: .after(.milliseconds(20))))
            let elapsed = milliseconds(since: start)
            XCTAssertGreaterThanOrEqual(elapsed, 20)
            XCTAssertLessThan(elapsed, 2_000)
        }
    }

    func testSendDeadlineThrowsTimeoutErrorAndDoesNotEnqueue() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            try channel.send(1)
            let start = Deadline.now
            XCTAssertThrows(TimeoutError(), try channel.send(2, deadline: .after(.milliseconds(20))))
            XCTAssertGreaterThanOrEqual(milliseconds(since: start), 20)
            XCTAssertEqual(channel.count, 1)
            XCTAssertEqual(channel.tryReceive(), 1)
            XCTAssertNil(channel.tryReceive())
        }
    }

    func testValueBeforeTheDeadlineIsReceived() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let receiver = Fiber.spawn { () throws -> Int? in
                let first = try channel.receive(deadline: .after(.seconds(10)))
                // Parks again without a deadline: the first wait's 10 s timer must be gone.
                let second = try channel.receive()
                return first.flatMap { f in second.map { f * 100 + $0 } }
            }
            Fiber.yield()
            try channel.send(4)
            try Fiber.sleep(for: .milliseconds(10))
            try channel.send(2)
            XCTAssertEqual(try receiver.join(), 402)
        }
    }

    func testTimedOutReceiverLeavesTheWaitQueue() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let early = Fiber.spawn { try channel.receive(deadline: .after(.milliseconds(5))) }
            XCTAssertThrows(TimeoutError(), try early.join())
            // If the timed-out fiber still sat in the queue, this send would wake it and leave
            // the real receiver parked forever.
            let late = Fiber.spawn { try channel.receive() }
            Fiber.yield()
            try channel.send(77)
            XCTAssertEqual(try late.join(), 77)
        }
    }

    func testReceiversAreServedInArrivalOrder() throws {
        try Scheduler.run {
            let channel = Channel<Int>(capacity: 1)
            let receivers = (0..<4).map { _ in Fiber.spawn { try channel.receive()! } }
            Fiber.yield()
            for v in [10, 11, 12, 13] { try channel.send(v) }
            XCTAssertEqual(try receivers.map { try $0.join() }, [10, 11, 12, 13])
        }
    }

    // MARK: - many producers and consumers

    func testManyProducersAndConsumers() throws {
        let producers = 8, consumers = 4, perProducer = 1_000
        try Scheduler.run {
            let channel = Channel<(producer: Int, sequence: Int)>(capacity: 16)
            let producing = WaitGroup()
            producing.add(producers)
            for p in 0..<producers {
                Fiber.spawn {
                    defer { producing.done() }
                    for s in 0..<perProducer {
                        try channel.send((p, s))
                        if s % 7 == p { Fiber.yield() }
                    }
                }
            }
            let consuming = (0..<consumers).map { _ in
                Fiber.spawn { () -> [(producer: Int, sequence: Int)] in
                    var got: [(producer: Int, sequence: Int)] = []
                    for item in channel {
                        got.append(item)
                        if got.count % 5 == 0 { Fiber.yield() }
                    }
                    return got
                }
            }
            try producing.wait()
            channel.close()
            let results = try consuming.map { try $0.join() }
            let all = results.flatMap { $0 }
            XCTAssertEqual(all.count, producers * perProducer)
            XCTAssertEqual(all.reduce(0) { $0 + $1.sequence }, producers * (perProducer * (perProducer - 1) / 2))
            XCTAssertEqual(Set(all.map { $0.producer * perProducer + $0.sequence }).count, producers * perProducer, "no duplicates")
            for (c, got) in results.enumerated() {
                XCTAssertGreaterThan(got.count, 0, "consumer \(c) received something")
                // FIFO: each consumer sees each producer's values in increasing order.
                for p in 0..<producers {
                    let sequence = got.filter { $0.producer == p }.map(\.sequence)
                    XCTAssertEqual(sequence, sequence.sorted(), "consumer \(c), producer \(p)")
                }
            }
        }
    }

    func testPingPongOverTwoChannels() throws {
        try Scheduler.run {
            let ping = Channel<Int>(capacity: 1)
            let pong = Channel<Int>(capacity: 1)
            let echo = Fiber.spawn {
                for v in ping { try pong.send(v + 1) }
                pong.close()
            }
            var total = 0
            for i in 0..<1_000 {
                try ping.send(i)
                total += try pong.receive()!
            }
            ping.close()
            XCTAssertNil(try pong.receive())
            try echo.join()
            XCTAssertEqual(total, 1_000 * 999 / 2 + 1_000)
        }
    }
}
