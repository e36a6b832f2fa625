import SpindleFibers
import SpindleHTTP
import SpindleIO

// Request bodies, read by the serving fiber: decoded from the receive buffer, waiting for the
// client's bytes within the body deadline (`bodyTimeout` of waiting in total, and
// `minimumBodyRate` after `bodyRateGracePeriod`), and dropped when the handler left them.
extension HTTPConnection {
    /// Reads decoded body bytes (0 at the end). Buffered bytes first, then the socket. Throws
    /// `HTTPError` when the body fails (408, 400, 413: recorded, and the connection closes after
    /// the response) and `CancellationError` when the connection is being closed.
    func readBody(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard out.count > 0, hasFiber, let buffer, hasExchange else { return 0 }
        if let failure = parserBox!.exchange.bodyFailure { throw failure.error }
        let pending = parserBox!.exchange.decodedPending
        if !pending.isEmpty {
            let n = min(out.count, pending.count)
            out.baseAddress!.copyMemory(from: buffer.memory + pending.lowerBound, byteCount: n)
            parserBox!.exchange.decodedPending = (pending.lowerBound + n)..<pending.upperBound
            return n
        }
        if parserBox!.exchange.decoder.isComplete { return 0 }
        while true {
            if !buffer.isEmpty {
                let input = UnsafeRawBufferPointer(rebasing: buffer.readable.prefix(max(out.count, 64)))
                switch parserBox!.exchange.decoder.decode(input) {
                case .data(let range):
                    let n = min(range.count, out.count)
                    out.baseAddress!.copyMemory(from: input.baseAddress! + range.lowerBound, byteCount: n)
                    let base = buffer.start
                    buffer.start += range.lowerBound + range.count
                    if n < range.count { parserBox!.exchange.decodedPending = (base + range.lowerBound + n)..<(base + range.upperBound) }
                    return n
                case .needMore:
                    buffer.start += input.count
                    if !buffer.isEmpty { continue }
                case .end(let consumed):
                    buffer.start += consumed
                    return 0
                case .error(let error):
                    throw fail(.malformed(error))
                }
            }
            // Earlier pipelined responses (and 100 Continue) go out before we wait on the client.
            if parserBox!.exchange.continueOwed {
                parserBox!.exchange.continueOwed = false
                HTTPResponseWriter.writeContinue(into: &batchForWriting().buffer)
            }
            try flushOutput(deadline: .runNow + worker.configuration.writeTimeout)
            if !buffer.isEmpty { continue }  // bytes that arrived while the flush parked
            // Receive into the buffer's free space (never moving the head the handler may still
            // look at); a buffer without room means a huge chunked framing line.
            if buffer.start == buffer.end {
                buffer.start = parserBox!.exchange.bodyBase
                buffer.end = parserBox!.exchange.bodyBase
            }
            guard buffer.freeSpace > 0 else { throw fail(.framingTooLarge) }
            try waitForBody()
        }
    }

    /// Records why the body failed (the connection closes lingeringly after the response) and
    /// returns the error to throw.
    private func fail(_ failure: BodyFailure) -> HTTPError {
        parserBox!.exchange.bodyFailure = failure
        parserBox!.exchange.after = .closeLingering
        return failure.error
    }

    /// Parks the serving fiber until more received bytes are in `buffer` (overflow first),
    /// re-arming the receive if it was paused. Throws when the body deadline passes (408), the
    /// client closed its side (400), or the connection is closing (`CancellationError`).
    private func waitForBody() throws {
        let buffer = self.buffer!
        let before = buffer.end
        absorbOverflow(compacting: false)
        while buffer.end == before {
            guard case .serving(_, let inputEnded) = state else { throw CancellationError() }
            if inputEnded { throw fail(.clientClosed) }
            if socket.receiveMode != .receiving { socket.startReceiving(self) }
            let (deadline, rateTooLow) = bodyDeadline()
            let parkedAt = Deadline.now
            let reason = park(deadline: deadline, waiting: .read)
            parserBox!.exchange.bodyWaitNanoseconds &+= Deadline.now.nanoseconds &- parkedAt.nanoseconds
            switch reason {
            case .ready:
                absorbOverflow(compacting: false)
            case .timedOut:
                throw fail(.timedOut(rateTooLow: rateTooLow))
            case .cancelled, .closing:
                throw CancellationError()
            }
        }
        parserBox!.exchange.bodyBytesWaitedFor += buffer.end - before
    }

    /// When the body fails if no byte arrives: when the time spent waiting reaches
    /// `bodyTimeout`, or earlier, once past the grace period, when it is too long for the bytes
    /// that came meanwhile at `minimumBodyRate` (then `rateTooLow`).
    private func bodyDeadline() -> (Deadline, rateTooLow: Bool) {
        let configuration = worker.configuration
        let waited = Duration.nanoseconds(parserBox!.exchange.bodyWaitNanoseconds)
        let now = Deadline.now
        let total = now + (configuration.bodyTimeout - waited)
        guard configuration.minimumBodyRate > 0 else { return (total, false) }
        let earned = Duration.seconds(Double(parserBox!.exchange.bodyBytesWaitedFor) / Double(configuration.minimumBodyRate))
        let floor = now + (max(configuration.bodyRateGracePeriod, earned) - waited)
        return floor < total ? (floor, true) : (total, false)
    }

    /// What `skipBody` found.
    enum SkippedBody {
        /// The whole body was read and dropped.
        case skipped
        /// More than the limit, or it failed to arrive: the connection must close.
        case unfinished
        /// Its framing is invalid: the response must say so (the handler never saw it).
        case invalid(BodyFailure)
    }

    /// Reads and drops the rest of the body, up to `limit` bytes, checking its framing.
    func skipBody(upTo limit: Int) -> SkippedBody {
        var skipped = 0
        var scratch = [UInt8](repeating: 0, count: 4096)
        while skipped < limit {
            do {
                let n = try scratch.withUnsafeMutableBytes { try readBody(into: $0) }
                if n == 0 { return .skipped }
                skipped += n
            } catch {
                switch parserBox!.exchange.bodyFailure {
                case .malformed(let error)?: return .invalid(.malformed(error))
                case .framingTooLarge?: return .invalid(.framingTooLarge)
                default: return .unfinished
                }
            }
        }
        return parserBox!.exchange.decoder.isComplete && parserBox!.exchange.decodedPending.isEmpty ? .skipped : .unfinished
    }
}
