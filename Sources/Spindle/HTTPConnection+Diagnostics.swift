import Logging
import SpindleFibers

// What the serving fiber tells the diagnostics around its requests: the request it serves (for
// the CPU-hog watchdog) and, after the requests of its run, whether a handler took the stack
// past 75% (a warning, once per stack). See Docs/observability.md.
extension HTTPConnection {
    /// Records the request being served as the subject of the serving fiber, whose core `serve`
    /// looked up once (two stores; see `Fiber.recordServing`). Its head stays in the receive
    /// buffer while the fiber serves it.
    @inline(__always)
    func recordServing(in core: CorePointer) {
        guard hasExchange else { return }
        Fiber.recordServing(parserBox!.exchange.head.bytes, in: core)
    }

    /// Clears the fiber's subject before `servingEnded` gives the receive buffer back, so the
    /// watchdog's capture never reads a buffer the fiber no longer holds (two stores).
    @inline(__always)
    func forgetServing(in core: CorePointer) {
        Fiber.recordServing(UnsafeRawBufferPointer(start: nil, count: 0), in: core)
    }

    /// Warns, once per stack, when the `requestsServed` requests the fiber just answered (the
    /// last of them still `exchange`) took its stack past 75%: the loads of one line of the
    /// stack unless they did. Once per serving run rather than per request: that line is
    /// rarely in the cache, and pipelined requests would pay the miss one by one. The warning
    /// names the last request, and says how many came before it in the run.
    @inline(__always)
    func checkStackDepth(in core: CorePointer, requestsServed: Int) {
        guard let (highWater, size) = Fiber.stackPassedWarningLine(in: core) else { return }
        warnDeepStack(highWater: highWater, size: size, requestsServed: requestsServed)
    }

    @inline(never)
    private func warnDeepStack(highWater: Int, size: Int, requestsServed: Int) {
        var request = "?"
        if hasExchange, let head = parserBox?.exchange.head {
            request = FiberDump.printable(String(decoding: head.methodBytes, as: UTF8.self) + " "
                                          + String(decoding: head.targetBytes.prefix(200), as: UTF8.self))
        }
        if requestsServed > 1 {
            request += " (the last of \(requestsServed) requests the fiber served in a row: one of them went that deep)"
        }
        worker.metrics.deepStacks &+= 1
        worker.logger.warning("a fiber stack passed 75% of its size: \(highWater) of \(size) bytes used, serving \(request); raise SPINDLE_STACK_SIZE or move deep recursion and large local buffers off the fiber stack")
    }
}
