import Logging
import SpindleFibers

// What the serving fiber tells the diagnostics around each request: the request it serves (for
// the CPU-hog watchdog) and, after it, whether the handler took the stack past 75% (a warning,
// once per stack). See Docs/observability.md.
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

    /// Warns, once per stack, when the request just answered took its fiber's stack past 75%
    /// (the loads of one line of the stack unless it did). Before the next request replaces
    /// `exchange`.
    @inline(__always)
    func checkStackDepth(in core: CorePointer) {
        guard let (highWater, size) = Fiber.stackPassedWarningLine(in: core) else { return }
        warnDeepStack(highWater: highWater, size: size)
    }

    @inline(never)
    private func warnDeepStack(highWater: Int, size: Int) {
        var request = "?"
        if hasExchange, let head = parserBox?.exchange.head {
            request = FiberDump.printable(String(decoding: head.methodBytes, as: UTF8.self) + " "
                                          + String(decoding: head.targetBytes.prefix(200), as: UTF8.self))
        }
        worker.metrics.deepStacks &+= 1
        worker.logger.warning("a fiber stack passed 75% of its size: \(highWater) of \(size) bytes used, serving \(request); raise SPINDLE_STACK_SIZE or move deep recursion and large local buffers off the fiber stack")
    }
}
