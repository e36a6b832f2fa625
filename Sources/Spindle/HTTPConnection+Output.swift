import HTTPTypes
import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO

// Responses: the batch they are written into, the fiber's parking writes, the asynchronous
// send of the batch a fiber leaves behind, and streamed bodies.
//
// One send at a time, in order: while a fiber is on the connection, it alone sends (a parking
// write once the send in flight is done, or, as it ends, an asynchronous send of its batch);
// without a fiber, `sendCompleted` starts the batch queued behind the send that completed.
extension HTTPConnection {
    /// Batched responses are sent once they reach this size, even if more requests are buffered.
    static let flushThreshold = 64 << 10

    /// The output batch responses are written into (taken from the pool on first use).
    func batchForWriting() -> OutputBox {
        ensureBatch()
        return batch!  // set just above
    }

    /// Takes a batch from the pool (or makes one) unless the connection has one.
    @inline(__always)
    private func ensureBatch() {
        if batch == nil { batch = worker.outputs.take() ?? OutputBox() }
    }

    /// Serving fiber: sends the batch (after the send in flight) and gives its buffer back. Parks
    /// until sent. A failure closes the connection (the fiber goes on to its end) and throws.
    func flushOutput(deadline: Deadline) throws {
        try waitForSend(deadline: deadline)
        guard let output = batch else { return }
        batch = nil
        defer { worker.giveBack(output: output) }
        guard output.buffer.count > 0 else { return }
        do {
            try socket.write(output.buffer.readableBytes, deadline: deadline)
        } catch {
            if error is TimeoutError { worker.metrics.timedOut(.write) }
            close()
            throw error
        }
    }

    /// Parks the serving fiber until the send in flight is done. Throws when the connection is
    /// closing, or when the client has not taken the bytes by `deadline` (then it closes).
    private func waitForSend(deadline: Deadline) throws {
        while sending != nil {
            guard case .serving = state else { throw CancellationError() }
            switch park(deadline: deadline, waiting: .write) {
            case .ready:
                continue
            case .timedOut:
                worker.metrics.timedOut(.write)
                close()
                throw TimeoutError()
            case .cancelled, .closing:
                throw CancellationError()
            }
        }
        guard case .serving = state else { throw CancellationError() }
    }

    /// Hands the batch to an asynchronous send, unless one is in flight (then the batch waits
    /// for its completion). Not while a fiber serves (it sends itself), except as it ends.
    func sendBatch() {
        guard sending == nil, let output = batch.take() else { return }  // moved out: no count changes
        guard output.buffer.count > 0 else { worker.giveBack(output: output); return }
        // The bytes taken before the box moves into `sending` (which keeps them alive until the
        // send is done): a copy into `sending` retained it and released the local after the call.
        let bytes = output.buffer.readableBytes
        sending = consume output
        worker.asyncSends += 1
        socket.sendAsync(bytes, delegate: self)  // holds self until done
    }

    /// The asynchronous send is done (scheduler loop): give its buffer back, then go on by state.
    func sendCompleted(errno: Int32) {
        if let sending = sending.take() { worker.giveBack(output: sending) }  // moved out: no count changes
        worker.asyncSends -= 1
        if errno != 0 {
            close()  // the client is gone (or close() cancelled the send)
        } else {
            switch state {
            case .serving:
                wakeWaiter()
            case .idle, .readingHead:
                sendBatch()
            case .sendingLast:
                sendBatch()
                if sending == nil { lastResponseSent() }
            case .cancelling, .lingering, .closed:
                break
            }
        }
        if worker.stopping { worker.drained.set() }
    }

    // MARK: - Writing responses (serving fiber)

    /// Chunks up to this size are framed in a copy on the stack; larger ones are sent as they
    /// are. The copy and its framing stay within 1 KiB: above that, `withUnsafeTemporaryAllocation`
    /// checks the thread's stack bounds, which a fiber's stack is outside of, and takes the heap.
    static let stackFramedChunkLimit = 1024 - (HTTPChunkedEncoder.maxSizeLineLength + 2)

    /// Sends `chunk` (not empty) in the chunked coding: framed in a copy on the stack when small
    /// (one send, no allocation), else in a vectored send of size line, data and CRLF (no copy
    /// of the data). Parks until the kernel took it all.
    private static func writeChunk(_ chunk: UnsafeRawBufferPointer, to socket: TCPConnection, deadline: Deadline) throws {
        let framing = HTTPChunkedEncoder.maxSizeLineLength + 2
        if chunk.count <= stackFramedChunkLimit {
            try withUnsafeTemporaryAllocation(byteCount: stackFramedChunkLimit + framing, alignment: 1) { space in
                let lineLength = HTTPChunkedEncoder.writeSizeLine(chunk.count, into: space)
                UnsafeMutableRawBufferPointer(rebasing: space[lineLength...]).copyMemory(from: chunk)
                UnsafeMutableRawBufferPointer(rebasing: space[(lineLength + chunk.count)...]).copyMemory(from: HTTPChunkedEncoder.crlf)
                try socket.write(UnsafeRawBufferPointer(rebasing: space[..<(lineLength + chunk.count + 2)]), deadline: deadline)
            }
        } else {
            try withUnsafeTemporaryAllocation(byteCount: HTTPChunkedEncoder.maxSizeLineLength, alignment: 1) { line in
                let lineLength = HTTPChunkedEncoder.writeSizeLine(chunk.count, into: line)
                try socket.write(vectored: [UnsafeRawBufferPointer(rebasing: line[..<lineLength]), chunk, HTTPChunkedEncoder.crlf],
                                 deadline: deadline)
            }
        }
    }

    /// Logs why a streamed body ended early: at error level when the code producing it threw,
    /// at debug level when the connection failed under it — a send failed, or the connection
    /// closed and cancelled the fiber while it waited (a client that went away is not the
    /// server's error, and an event stream ends that way every time a browser tab closes).
    private func logStreamEnded(by error: any Error, _ writer: BodyWriter) {
        if writer.connectionFailed || isCancelling || error is CancellationError {
            worker.logger.debug("streamed response ended: the connection failed (\(error))")
        } else {
            worker.logger.error("streaming handler failed: \(error)")
        }
    }

    /// Writes `response` (into the batch for content-length bodies, straight out for streamed
    /// ones); returns true when the connection must close afterwards.
    func write(_ response: Response, for head: HTTPRequestHead, keepAlive: Bool, bodyBytes: inout Int) throws -> Bool {
        let persistence: HTTPConnectionPersistence = keepAlive ? head.persistence : .close
        ensureBatch()
        // The batch borrowed, not retained and released around the writing (an atomic pair per
        // response). Invariant: `write(_:for:persistence:into:bodyBytes:)` touches `output`
        // only before its first `flushOutput`, which takes the box out of `batch` and may give
        // it back to a full pool that frees it; until then `batch` keeps it alive.
        return try Unmanaged.passUnretained(batch!)._withUnsafeGuaranteedRef { output in
            try write(response, for: head, persistence: persistence, into: output, bodyBytes: &bodyBytes)
        }
    }

    /// `write(_:for:keepAlive:bodyBytes:)` into `output`, the batch (see there for what it
    /// may do with `output`).
    private func write(_ response: Response, for head: HTTPRequestHead, persistence: HTTPConnectionPersistence,
                       into output: OutputBox, bodyBytes: inout Int) throws -> Bool {
        let writeTimeout = worker.configuration.writeTimeout
        /// Appends a `Content-Length` response to the batch; sends the batch once it is large.
        func appendToBatch(_ body: UnsafeRawBufferPointer, bodyBytes: inout Int) throws -> Bool {
            let isHEAD = head.isHEAD
            if !isHEAD { bodyBytes = body.count }
            let close = output.writer.writeResponse(of: response, body: body,
                                                    requestIsHEAD: isHEAD, persistence: persistence, into: &output.buffer)
            if output.buffer.count >= Self.flushThreshold { try flushOutput(deadline: .runNow + writeTimeout) }
            return close
        }
        switch response.body {
        case .empty:
            return try appendToBatch(UnsafeRawBufferPointer(start: nil, count: 0), bodyBytes: &bodyBytes)
        case .bytes(let bytes):
            return try bytes.withUnsafeBytes { try appendToBatch($0, bodyBytes: &bodyBytes) }
        case .text(var text):
            return try text.withUTF8 { try appendToBatch(UnsafeRawBufferPointer($0), bodyBytes: &bodyBytes) }
        case .sizedStream(let length, let produce):
            let close = output.writer.writeHead(of: response, framing: .contentLength(length),
                                                persistence: persistence, into: &output.buffer)
            try flushOutput(deadline: .runNow + writeTimeout)
            let code = response.status.code
            if head.isHEAD || code < 200 || code == 204 || code == 304 { return close }
            let socket = self.socket
            let writer = BodyWriter(limit: length, send: { [worker] chunk in
                guard chunk.count > 0 else { return }
                do { try socket.write(chunk, deadline: .now + writeTimeout) } catch let error as TimeoutError {
                    worker.metrics.timedOut(.write)
                    throw error
                }
            }, sendFile: { [worker] file, range in
                do { return try socket.send(file, range: range, deadline: .now + writeTimeout) } catch let error as TimeoutError {
                    worker.metrics.timedOut(.write)
                    throw error
                }
            })
            defer { bodyBytes = writer.bytesWritten }
            do {
                try produce(writer)
            } catch {
                logStreamEnded(by: error, writer)
                return true  // a body cut short: only closing says so
            }
            return close || writer.bytesWritten != length
        case .stream(let produce) where !head.version.hasHTTP11Semantics:
            // HTTP/1.0 clients do not know chunked: the body ends with the connection.
            _ = output.writer.writeHead(of: response, framing: .closeDelimited,
                                        persistence: .close, into: &output.buffer)
            try flushOutput(deadline: .runNow + writeTimeout)
            if head.isHEAD { return true }
            let socket = self.socket
            let writer = BodyWriter { [worker] chunk in
                guard chunk.count > 0 else { return }
                do { try socket.write(chunk, deadline: .now + writeTimeout) } catch let error as TimeoutError {
                    worker.metrics.timedOut(.write)
                    throw error
                }
            }
            defer { bodyBytes = writer.bytesWritten }
            do {
                try produce(writer)
            } catch {
                logStreamEnded(by: error, writer)
            }
            return true
        case .stream(let produce):
            let close = output.writer.writeHead(of: response, framing: .chunked,
                                                persistence: persistence, into: &output.buffer)
            try flushOutput(deadline: .runNow + writeTimeout)
            if head.isHEAD { return close }
            let socket = self.socket
            // No output buffer is held by the stream, which may wait for hours between writes (an
            // event stream): a small chunk is framed in a copy on the stack, a large one goes out
            // as it is, between its size line and a CRLF, in one vectored send.
            let writer = BodyWriter { [worker] chunk in
                guard chunk.count > 0 else { return }
                do {
                    try Self.writeChunk(chunk, to: socket, deadline: .now + writeTimeout)
                } catch let error as TimeoutError {
                    worker.metrics.timedOut(.write)
                    throw error
                }
            }
            defer { bodyBytes = writer.bytesWritten }
            do {
                try produce(writer)
            } catch {
                // Headers are gone: the only honest signal left is an aborted body.
                logStreamEnded(by: error, writer)
                return true
            }
            HTTPChunkedEncoder.writeLastChunk(into: &batchForWriting().buffer)
            return close
        }
    }
}
