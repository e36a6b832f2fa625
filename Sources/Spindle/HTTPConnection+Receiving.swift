import SpindleFibers
import SpindleHTTP
import SpindleIO

// The fiber-less receive: what each state does with bytes, end of stream and receive errors,
// the head parsed without a fiber, and the overflow kept while a fiber serves.
extension HTTPConnection {
    /// Overflow bytes past which the receive is paused (bytes already in flight still arrive,
    /// up to what the socket had buffered).
    static let overflowLimit = 64 << 10

    /// Bytes, end of stream or an error from the fiber-less receive (scheduler loop).
    func received(_ event: StreamEvent) {
        switch state {
        case .idle, .readingHead:
            switch event {
            case .bytes(let bytes): receivedHeadBytes(bytes)
            case .end: inputEnded()
            case .failed: close()
            }
        case .serving:
            receivedWhileServing(event)
        case .sendingLast, .lingering:
            switch event {
            case .bytes(let bytes): dropped(bytes.count)
            case .end: inputEnded()
            case .failed: close()
            }
        case .cancelling, .closed:
            break
        }
    }

    /// Bytes of a head, no fiber involved: buffer them and parse.
    private func receivedHeadBytes(_ bytes: UnsafeRawBufferPointer) {
        // The buffer and the parser box are used through the connection's fields: local
        // bindings of them retained and released each.
        if buffer == nil {
            buffer = bytes.count <= ReceiveBuffer.smallCapacity ? worker.smallReceiveBuffers.take() : worker.receiveBuffers.take()
            guard buffer != nil else { close(); return }
        }
        headStarted()
        if !buffer!.append(bytes.baseAddress!, count: bytes.count) {
            // No view points into a buffer while a head is read: a small one can move.
            guard buffer!.isSmall, let large = useLargeBuffer(), large.append(bytes.baseAddress!, count: bytes.count) else {
                respondWithoutFiber(HTTPParseError(.headerSectionTooLarge))
                return
            }
        }
        if parserBox == nil {
            parserBox = worker.parsers.take()
            guard parserBox != nil else { close(); return }
        }
        switch parserBox!.parser.parseHead(buffer!.readable) {
        case .incomplete:
            armTimeout()  // the head timeout, from the head's first byte
        case .complete(let head, let consumed):
            beginExchange(head, consumed: consumed)
            startServing()
        case .error(let error):
            respondWithoutFiber(error)
        }
    }

    /// Answers a malformed request with its status and closes lingeringly, without a fiber: the
    /// response goes into the batch (behind any response still being sent).
    func respondWithoutFiber(_ error: HTTPParseError) {
        worker.metrics.parseError(error)
        let output = batchForWriting()
        output.writer.writeError(error, into: &output.buffer)
        closeAfterSending(linger: true)
    }

    /// An event while the fiber serves: keep the bytes (in `buffer` behind the bytes in use, else
    /// in `overflow`, pausing the receive past `overflowLimit`) and wake the fiber if it waits.
    private func receivedWhileServing(_ event: StreamEvent) {
        switch event {
        case .bytes(let bytes):
            if overflow.isEmpty, let buffer, bytes.count <= buffer.freeSpace {
                (buffer.memory + buffer.end).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                buffer.end += bytes.count
            } else {
                overflow.append(contentsOf: bytes)
                if overflow.count - overflowStart > Self.overflowLimit { socket.pauseReceiving() }
            }
            wakeWaiter()
        case .end:
            inputEnded()
            wakeWaiter()
        case .failed:
            close()  // the client is gone: cancel the fiber
        }
    }

    /// Moves overflow bytes into `buffer`: behind the bytes in use, or (`compacting`, between
    /// requests, when no view into the buffer is alive) after moving the unread bytes to the front
    /// — into a large buffer, when a small one cannot take them all.
    func absorbOverflow(compacting: Bool) {
        guard overflowStart < overflow.count, var buffer else { return }
        let remaining = overflow.count - overflowStart
        if compacting && remaining > buffer.freeSpace {
            buffer.compact()
            if remaining > buffer.freeSpace && buffer.isSmall, let large = useLargeBuffer() { buffer = large }
        }
        let n = min(remaining, buffer.freeSpace)
        overflow.withUnsafeBytes { (buffer.memory + buffer.end).copyMemory(from: $0.baseAddress! + overflowStart, byteCount: n) }
        buffer.end += n
        overflowStart += n
        if overflowStart == overflow.count {
            overflow = []
            overflowStart = 0
        } else if overflowStart >= Self.overflowLimit {
            overflow.removeFirst(overflowStart)  // keep the array to the bytes still pending
            overflowStart = 0
        }
    }

    /// Replaces a small receive buffer by a large one holding its unread bytes at its front, and
    /// returns it; returns a buffer that is large already as it is, and nil when there is no
    /// buffer or no large one to be had (the pool at its maximum). Only while no view points
    /// into the buffer: a head being read, between requests, at an exchange's start (the caller
    /// rebases the new head), after an upgrade. Cost: a copy of the unread bytes (< 2 KiB).
    @discardableResult
    func useLargeBuffer() -> ReceiveBuffer? {
        guard let small = buffer, small.isSmall else { return buffer }
        guard let large = worker.receiveBuffers.take() else { return nil }
        let unread = small.readable
        if !unread.isEmpty { large.memory.copyMemory(from: unread.baseAddress!, byteCount: unread.count) }
        large.end = unread.count
        buffer = large
        #if DEBUG
        // A view left pointing into the small buffer reads this at once, not stale bytes.
        small.memory.initializeMemory(as: UInt8.self, repeating: 0xDE, count: small.capacity)
        #endif
        worker.giveBack(buffer: small)
        return large
    }

    /// True when overflow bytes wait behind the buffer.
    var hasOverflow: Bool { overflowStart < overflow.count }
}
