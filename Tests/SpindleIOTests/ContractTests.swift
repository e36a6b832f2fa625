// The I/O contract's fiber-less semantics, on whichever backend this pass runs (SPINDLE_IO):
// events never arrive inside the call that started or stopped an operation; a cancelled
// asynchronous send reports ECANCELED; a paused stream receiver leaves the bytes in the socket
// (the peer's writes block) and resuming loses and repeats none; a listener that runs out of
// descriptors accepts again once some are free; a stopping worker releases what its fiber-less
// operations hold.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpindleFibers
import SpindleIO
import SpindleTestSupport
import XCTest

/// Waits in the calling fiber (1 ms naps) until `condition` holds; throws after `timeout`.
private func waitInFiber(_ what: String, timeout: Duration = .seconds(20), _ condition: () -> Bool) throws {
    let end = Deadline.now + timeout
    while !condition() {
        if Deadline.now > end { throw TestFailure("\(what) did not happen within \(timeout)") }
        try Fiber.sleep(for: .milliseconds(1))
    }
}

/// An asynchronous send's delegate that records the outcome and whether it came inside a call.
private final class RecordingSend: AsyncSendDelegate {
    var inCall = false
    var heardInsideCall = false
    var result: Int32? = nil

    func sendCompleted(errno: Int32) {
        if inCall { heardInsideCall = true }
        result = errno
    }
}

/// A stream receiver's delegate that keeps the bytes (for the test thread) and pauses the
/// receiver once `pauseAfter` bytes have come. It owns its connection, as the server's
/// `HTTPConnection` does: the backend holds the delegate while the receive is armed, and
/// through it the connection and its receiver.
private final class RecordingReceiver: StreamReceiverDelegate {
    let connection: TCPConnection
    let bytes: Locked<[UInt8]>
    let count: Locked<Int>
    let pauseAfter: Int
    var inCall = false
    var eventsInsideCalls = 0
    var paused = false
    var ended = false
    var failure: Int32? = nil

    init(connection: TCPConnection, bytes: Locked<[UInt8]>, count: Locked<Int>, pauseAfter: Int) {
        self.connection = connection
        self.bytes = bytes
        self.count = count
        self.pauseAfter = pauseAfter
    }

    func received(_ event: StreamEvent) {
        if inCall { eventsInsideCalls += 1 }
        switch event {
        case .bytes(let chunk):
            bytes.withLock { $0.append(contentsOf: chunk) }
            let total = count.withLock { $0 += chunk.count; return $0 }
            if !paused && total >= pauseAfter {
                paused = true
                connection.pauseReceiving()
            }
        case .end:
            ended = true
        case .failed(let code):
            failure = code
        }
    }
}

/// An asynchronous send's delegate that owns its connection (as the server's connections own
/// theirs) and records the outcome.
private final class OwningSend: AsyncSendDelegate {
    let connection: TCPConnection
    let result: Locked<Int32?>

    init(connection: TCPConnection, result: Locked<Int32?>) {
        self.connection = connection
        self.result = result
    }

    func sendCompleted(errno: Int32) { result.set(errno) }
}

/// A weak reference the test thread can check after the worker has stopped.
private final class WeakBox: @unchecked Sendable {
    // @unchecked Sendable: written once at init; read after the worker thread has ended.
    weak var object: AnyObject?
    init(_ object: AnyObject) { self.object = object }
}

/// A's delegate in the staleness test: records A's events and, at A's first bytes, closes B
/// and notes how many events B's delegate (`onB`) had heard by then.
private final class ClosingReceiver: StreamReceiverDelegate {
    let closing: TCPConnection
    let onB: RecordingReceiver
    let recorder: RecordingReceiver
    private var eventsOfBAtClose: Int? = nil

    init(closing: TCPConnection, onB: RecordingReceiver, recorder: RecordingReceiver) {
        self.closing = closing
        self.onB = onB
        self.recorder = recorder
    }

    /// All the events `onB` has heard (bytes counted one by one, end, failure).
    private var eventsOfB: Int { onB.count.current + (onB.ended ? 1 : 0) + (onB.failure == nil ? 0 : 1) }

    func received(_ event: StreamEvent) {
        recorder.received(event)
        if eventsOfBAtClose == nil, case .bytes = event {
            eventsOfBAtClose = eventsOfB
            closing.close()
        }
    }

    /// Events B's delegate heard after B was closed.
    var eventsOfBAfterClose: Int { eventsOfB - (eventsOfBAtClose ?? eventsOfB) }
}

final class ContractTests: IOTestCase {
    /// The runtimes of this pass run on the backend the pass names (nothing silently runs on
    /// the other one).
    func testRuntimeRunsOnTheBackendOfThisPass() throws {
        let choice = try onWorker { worker in worker.runtime.backendChoice }
        XCTAssertEqual(choice?.kind, SuiteBackend.kind, "\(choice.map { "\($0)" } ?? "no choice recorded")")
    }

    /// An asynchronous send reports on a later loop turn, never inside `sendAsync`; one the peer
    /// does not drain stays in flight until cancelled, then reports ECANCELED — again not
    /// inside `cancelAsyncSend`.
    func testAsyncSendReportsInTheLoopAndCancelGivesECANCELED() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let log = Locked<[String]>([])
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let connection = try listener.accept(deadline: .now + .seconds(10))
            defer { connection.close() }
            let small = RecordingSend()
            try Array("hello".utf8).withUnsafeBytes { bytes in
                small.inCall = true
                connection.sendAsync(bytes, delegate: small)
                small.inCall = false
                try waitInFiber("the small send's report") { small.result != nil }
            }
            log.withLock { $0.append("small: errno=\(small.result!) inside=\(small.heardInsideCall)") }

            let big = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 << 20, alignment: 16)
            defer { big.deallocate() }  // after the report: the send is over by then
            big.initializeMemory(as: UInt8.self, repeating: 7)
            let stuck = RecordingSend()
            stuck.inCall = true
            connection.sendAsync(UnsafeRawBufferPointer(big), delegate: stuck)
            stuck.inCall = false
            try Fiber.sleep(for: .milliseconds(200))  // the peer's buffers are full by now
            let inFlight = connection.isSendingAsync && stuck.result == nil
            stuck.inCall = true
            connection.cancelAsyncSend()
            stuck.inCall = false
            try waitInFiber("the cancelled send's report") { stuck.result != nil }
            let code = stuck.result!
            log.withLock { $0.append("big: inFlight=\(inFlight) errno=\(code == ECANCELED ? "ECANCELED" : "\(code)") inside=\(stuck.heardInsideCall)") }
        }
        let client = try TestClient(port: listener.address.port)
        XCTAssertEqual(try client.receiveString(exactly: 5), "hello")
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { log.current.count == 2 }, "\(log.current)")
        client.close()
        try server.stop()
        XCTAssertEqual(log.current, ["small: errno=0 inside=false", "big: inFlight=true errno=ECANCELED inside=false"])
    }

    /// A receiver paused after 1 MiB of an 8 MiB stream stops reading: after a moment nothing
    /// more is delivered and the peer's writes block (small socket buffers on both sides).
    /// The backend holds no delegate while paused. Resuming delivers the rest; the bytes are
    /// the peer's, in order, none lost or repeated. No event comes inside start or resume.
    func testPausedReceiverLeavesBytesInTheSocketAndResumeLosesNone() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let message = pattern(seed: 77, count: 8 << 20)
        let received = Locked<[UInt8]>([])
        let receivedCount = Locked(0)
        let paused = Locked(false)
        let resume = Locked(false)
        let outcome = Locked<String?>(nil)
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let connection = try listener.accept(deadline: .now + .seconds(10))
            defer { connection.close() }
            var size: Int32 = 64 << 10
            setsockopt(connection.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            let recorder = RecordingReceiver(connection: connection, bytes: received, count: receivedCount, pauseAfter: 1 << 20)
            recorder.inCall = true
            connection.startReceiving(recorder)
            recorder.inCall = false
            try waitInFiber("the pause") { recorder.paused }
            try Fiber.sleep(for: .milliseconds(100))
            let heldWhilePaused = connection.isReceiveArmed
            let modeWhilePaused = connection.receiveMode
            paused.set(true)
            try waitInFiber("the test's go-ahead to resume", timeout: .seconds(30)) { resume.current }
            recorder.inCall = true
            connection.resumeReceiving()
            recorder.inCall = false
            try waitInFiber("the end of the stream", timeout: .seconds(30)) { recorder.ended || recorder.failure != nil }
            try Fiber.sleep(for: .milliseconds(10))
            outcome.set("paused: mode=\(modeWhilePaused) held=\(heldWhilePaused); end: ended=\(recorder.ended) failure=\(recorder.failure.map { "\($0)" } ?? "none") held=\(connection.isReceiveArmed); inside calls: \(recorder.eventsInsideCalls)")
        }
        let client = try TestClient(port: listener.address.port)
        var size: Int32 = 64 << 10
        setsockopt(client.fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let sent = Locked(0)
        let senderDone = DispatchSemaphore(value: 0)
        let senderError = Locked<String?>(nil)
        let fd = client.fd
        Thread {
            var offset = 0
            while offset < message.count {
                let n = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, min(64 << 10, $0.count - offset), Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    senderError.set("send: errno \(errno) after \(offset) bytes")
                    break
                }
                offset += n
                sent.set(offset)
            }
            senderDone.signal()
        }.start()
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { paused.current }, "the receiver never paused")
        usleep(300_000)
        let (sentPaused, receivedPaused) = (sent.current, receivedCount.current)
        usleep(300_000)
        let (sentLater, receivedLater) = (sent.current, receivedCount.current)
        resume.set(true)
        XCTAssertEqual(senderDone.wait(timeout: .now() + 30), .success, "the sender did not finish after resume")
        client.shutdownWrite()
        XCTAssertTrue(waitUntil(timeout: .seconds(30)) { outcome.current != nil }, "the server did not see the end of the stream")
        client.close()
        try server.stop()
        XCTAssertNil(senderError.current)
        XCTAssertEqual(receivedLater, receivedPaused, "bytes delivered while paused")
        XCTAssertEqual(sentLater, sentPaused, "the peer's writes went on while the receiver was paused")
        XCTAssertLessThan(sentPaused, message.count, "the whole stream fit in the socket buffers: nothing was held back")
        XCTAssertGreaterThanOrEqual(receivedPaused, 1 << 20)
        XCTAssertEqual(outcome.current, "paused: mode=paused held=false; end: ended=true failure=none held=false; inside calls: 0")
        let bytes = received.current
        XCTAssertEqual(bytes.count, message.count)
        XCTAssertTrue(bytes == message, "the received bytes differ from the sent ones at \(zip(bytes, message).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
    }

    /// A worker that stops with fiber-less operations still under way — a receive armed on a
    /// connection nobody closed, a send the peer does not drain — releases them: the send's
    /// delegate hears ECANCELED, and both delegates (which own the
    /// connection, as the server's connections do), the connection, its receiver and its send
    /// are freed once `run` has returned, its socket closed.
    func testAStoppingWorkerReleasesWhatItsFiberlessOperationsHold() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let big = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 << 20, alignment: 16)
        defer { big.deallocate() }  // after `run` has returned: the send is over by then
        big.initializeMemory(as: UInt8.self, repeating: 7)
        // Read-only until `run` has returned (the worker's send reads it, then nothing does).
        nonisolated(unsafe) let bytes = UnsafeRawBufferPointer(big)
        let before = LiveIOObjects.now
        let state = Locked<String?>(nil)
        let delegates = Locked<(receive: WeakBox, send: WeakBox)?>(nil)
        let sendResult = Locked<Int32?>(nil)
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let connection = try listener.accept(deadline: .now + .seconds(10))
            let receiver = RecordingReceiver(connection: connection, bytes: Locked([]), count: Locked(0), pauseAfter: .max)
            let send = OwningSend(connection: connection, result: sendResult)
            connection.startReceiving(receiver)
            connection.sendAsync(bytes, delegate: send)
            try Fiber.sleep(for: .milliseconds(200))  // the peer's buffers are full by now
            state.set("receiving=\(connection.isReceiveArmed) sending=\(connection.isSendingAsync)")
            delegates.set((WeakBox(receiver), WeakBox(send)))
            // Returns without closing: only the backend holds the delegates now.
        }
        let client = try TestClient(port: listener.address.port)
        defer { client.close() }
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { state.current != nil }, "the worker never started both operations")
        XCTAssertEqual(state.current, "receiving=true sending=true")
        let held = try XCTUnwrap(delegates.current)
        XCTAssertNotNil(held.receive.object, "the backend let the armed receive's delegate go while it was armed")
        XCTAssertNil(sendResult.current, "the send reported before the worker stopped")
        try server.stop()
        XCTAssertEqual(sendResult.current, ECANCELED, "the send's delegate heard \(sendResult.current.map { "\($0)" } ?? "nothing")")
        XCTAssertNil(held.receive.object, "the receive's delegate (and its connection) outlived the worker")
        XCTAssertNil(held.send.object, "the send's delegate (and its connection) outlived the worker")
        XCTAssertEqual(LiveIOObjects.now, before, "connection objects outlived the worker")
    }

    /// Closing inside a batch: A's bytes, a new connection C and B's bytes arrive while the
    /// worker is busy, so they are reported together; A's delegate closes B. B's delegate hears
    /// nothing after that (on epoll B's event is stale by then and dropped), and C — accepted
    /// afterwards, typically with B's old descriptor number — gets its own bytes, none of B's.
    func testEventsForASocketClosedEarlierInTheSameBatchAreDropped() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let phase = Locked(0)
        let outcome = Locked<String?>(nil)
        let server = BackgroundRuntime { _ in
            defer { listener.close() }
            let a = try listener.accept(deadline: .now + .seconds(10))
            defer { a.close() }
            let b = try listener.accept(deadline: .now + .seconds(10))
            let numberOfB = b.fd
            let bBytes = Locked<[UInt8]>([]), bCount = Locked(0)
            let onB = RecordingReceiver(connection: b, bytes: bBytes, count: bCount, pauseAfter: .max)
            let aBytes = Locked<[UInt8]>([]), aCount = Locked(0)
            let onA = ClosingReceiver(closing: b, onB: onB, recorder: RecordingReceiver(connection: a, bytes: aBytes, count: aCount, pauseAfter: .max))
            a.startReceiving(onA)
            b.startReceiving(onB)
            phase.set(1)
            // Keep the worker thread busy (no event handled) until the client has sent it all.
            _ = waitUntil(timeout: .seconds(10)) { phase.current == 2 }
            usleep(20_000)
            try Fiber.sleep(for: .milliseconds(20))  // one loop turn: the batch
            try waitInFiber("A's bytes") { aCount.current == 6 }
            let c = try listener.accept(deadline: .now + .seconds(10))
            defer { c.close() }
            let cBytes = Locked<[UInt8]>([]), cCount = Locked(0)
            let onC = RecordingReceiver(connection: c, bytes: cBytes, count: cCount, pauseAfter: .max)
            c.startReceiving(onC)
            try waitInFiber("C's bytes") { cCount.current >= 6 }
            try Fiber.sleep(for: .milliseconds(20))
            let cSaw = String(decoding: cBytes.current, as: UTF8.self)
            outcome.set("A=\(String(decoding: aBytes.current, as: UTF8.self)) B after close=\(onA.eventsOfBAfterClose) C=\(cSaw) C ended=\(onC.ended) reused=\(c.fd == numberOfB)")
        }
        let a = try TestClient(port: listener.address.port)
        let b = try TestClient(port: listener.address.port)
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) { phase.current == 1 })
        try a.send("A-data")
        let c = try TestClient(port: listener.address.port)
        try c.send("C-data")
        try b.send("B-data")
        usleep(20_000)
        phase.set(2)
        XCTAssertTrue(waitUntil(timeout: .seconds(20)) { outcome.current != nil }, "the server did not finish")
        a.close(); b.close(); c.close()
        try server.stop()
        let line = try XCTUnwrap(outcome.current)
        XCTAssertTrue(line.hasPrefix("A=A-data B after close=0 C=C-data C ended=false reused="), line)
        print("ContractTests: \(line)")
    }

    /// A listener whose process runs out of descriptors (RLIMIT_NOFILE lowered in a probe)
    /// backs off on EMFILE and, once connections are closed, accepts every queued one.
    func testListenerOutOfDescriptorsAcceptsAgainOnceSomeAreFree() throws {
        let count = 24
        let probe = try IOProbe(["accept-flood", "\(count)", "8"])
        let portLine = try probe.waitForLine(prefix: "port ", timeout: .seconds(30))
        let port = try XCTUnwrap(Int(portLine.split(separator: " ").last ?? ""), portLine)
        var clients: [TestClient] = []
        for _ in 0..<count { clients.append(try TestClient(port: port)) }
        let result = try probe.waitForExit(timeout: .seconds(60))
        clients.removeAll()
        XCTAssertTrue(result.exited && result.status == 0, result.summary)
        XCTAssertTrue(result.stdout.contains("backend \(SuiteBackend.kind) "), result.summary)
        XCTAssertTrue(result.stdout.contains("stalled held="), result.summary)
        XCTAssertTrue(result.stdout.contains("first=accept failed: EMFILE"), result.summary)
        XCTAssertTrue(result.stdout.contains("ok accepted=\(count)\n"), result.summary)
    }
}
