import Logging
import SpindleFibers
import SpindleHTTP
import SpindleIO
import SpindleMemory
import SpindleTLS

/// A connection's receive buffer: bytes of the current head (and of pipelined requests and
/// body) between `start` and `end`. Taken from the worker's pool when bytes arrive, given back
/// when the connection goes idle, so an idle keep-alive connection holds none.
///
/// Two sizes, each with its own pool. A head arrives in a *small* buffer (`smallCapacity`,
/// two to a page) when it fits; it moves to a *large* one (any incomplete head plus a whole
/// provided buffer) only where more room is needed — a head or a batch of pipelined requests
/// that outgrows it, a request with a body, an upgraded connection — and only while no view
/// points into it (`HTTPConnection.useLargeBuffer`). A request served for minutes (an event
/// stream, a long poll) thus holds 2 KiB of receive buffer instead of a page of a 48 KiB one.
final class ReceiveBuffer {
    /// The capacity of a small buffer.
    static let smallCapacity = 2048

    let memory: UnsafeMutableRawPointer
    let capacity: Int
    // `@exclusivity(unchecked)` here and in the boxes below: worker thread only, short accesses.
    @exclusivity(unchecked) var start = 0
    @exclusivity(unchecked) var end = 0

    init(capacity: Int) {
        self.capacity = capacity
        memory = HeapBytes.allocate(capacity)
    }

    deinit { HeapBytes.deallocate(memory) }

    var isEmpty: Bool { start == end }
    /// True for a small buffer (`smallCapacity`).
    var isSmall: Bool { capacity == Self.smallCapacity }
    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: memory + start, count: end - start) }
    var freeSpace: Int { capacity - end }

    /// Moves the unread bytes to the front.
    func compact() {
        if start == 0 { return }
        if start < end { (memory).copyMemory(from: memory + start, byteCount: end - start) }
        end -= start
        start = 0
    }

    /// Appends `count` bytes after the unread ones (compacting first if they do not fit behind
    /// them); false when they do not fit at all. Inlined: as a call, the connection's buffer was
    /// retained and released around it.
    @inline(__always)
    func append(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        if count > freeSpace { compact() }
        guard count <= freeSpace else { return false }
        (memory + end).copyMemory(from: bytes, byteCount: count)
        end += count
        return true
    }
}

/// A pooled parser (its field table is allocated once per pool entry, not per connection).
final class ParserBox {
    @exclusivity(unchecked) var parser: HTTPRequestParser
    /// The request the connection holding this box serves (`Exchange`). Kept
    /// here, not in the connection, so an idle connection holds none of its quarter kilobyte;
    /// kept when the box goes back to the pool, so the next request of any connection rewrites
    /// it in place (`Exchange.restart`) instead of building a new one. Nothing reads it outside
    /// a serving fiber (its views point into buffers given back).
    ///
    /// Not optional, with `hasExchange` beside it: an optional's tag was checked (an outlined
    /// call) on each of the ten or so field accesses of every request.
    @exclusivity(unchecked) var exchange: Exchange
    /// Whether `exchange` has been a request yet (before, it holds a placeholder head).
    @exclusivity(unchecked) var hasExchange = false
    /// The paths middleware gave the request being served (`Request.path`'s setter), in the
    /// order they were set; each `Request` value holds the index of its own. Emptied when the
    /// next request is answered and when the box goes back to the pool.
    @exclusivity(unchecked) var rewrittenPaths: [String] = []
    init(limits: HTTPLimits) {
        parser = HTTPRequestParser(limits: limits)
        exchange = Exchange(head: .placeholder, limits: limits, bodyBase: 0)
    }

    /// Forgets the rewritten paths of the request served last. Cost: a load and a branch
    /// unless a middleware rewrote a path.
    @inline(__always)
    func forgetRewrittenPaths() {
        if !rewrittenPaths.isEmpty { rewrittenPaths.removeAll() }
    }
}

/// A pooled response buffer (the batch of responses being written, or being sent after its
/// fiber ended).
final class OutputBox {
    /// The bytes a new output buffer allocates (and a shrunk one keeps).
    static let initialCapacity = 4096
    @exclusivity(unchecked) var buffer = HTTPOutputBuffer(capacity: initialCapacity)
    @exclusivity(unchecked) var writer = HTTPResponseWriter()
}

/// One worker's share of the server: its pools (connections' buffers, parsers, output buffers,
/// request arenas — preallocated at worker start), its connections, and its counters.
/// Touched only on its worker thread (hence `@exclusivity(unchecked)` on its counters: short
/// accesses that never span a fiber switch).
final class ServerWorker {
    let index: Int
    let configuration: ServerConfiguration
    let router: Router<Handler>
    var logger: Logger
    let receiveBuffers: ObjectPool<ReceiveBuffer>
    /// Small receive buffers (`ReceiveBuffer.smallCapacity`), for heads that fit one.
    let smallReceiveBuffers: ObjectPool<ReceiveBuffer>
    let parsers: ObjectPool<ParserBox>
    let outputs: ObjectPool<OutputBox>
    /// Request arenas, each with the worker's logger (`RequestScope`).
    let arenas: ObjectPool<RequestScope>
    /// Open connections this worker takes; beyond, 503 and close.
    let connectionCap: Int
    /// Deadlines of idle connections and incomplete heads (swept by one fiber).
    let timeouts = ConnectionTimeouts<HTTPConnection>()
    /// Open connections (idle ones are cancelled at shutdown).
    @exclusivity(unchecked) var connections: [ObjectIdentifier: HTTPConnection] = [:]
    /// The server's TLS context when it terminates TLS (then every connection is a `TLSConnection`).
    let tlsSlot: TLSContextSlot?
    /// Open TLS connections (cancelled at shutdown unless serving a request).
    @exclusivity(unchecked) var tlsConnections: [ObjectIdentifier: TLSConnection] = [:]
    /// Requests being handled now.
    @exclusivity(unchecked) var activeRequests = 0
    /// Responses still being sent after their fiber ended.
    @exclusivity(unchecked) var asyncSends = 0
    @exclusivity(unchecked) var nextRequestID: UInt64 = 0
    /// When `housekeeping` next runs the whole `trimMemory`.
    @exclusivity(unchecked) private var nextMemoryTrim = Deadline.now
    @exclusivity(unchecked) var stopping = false
    /// This worker's counters (see `WorkerMetrics`); read only by `report()`, on this thread.
    @exclusivity(unchecked) var metrics: WorkerMetrics
    /// The server's metrics, which a scrape asks this worker through.
    let serverMetrics: ServerMetrics
    let drained = Event()
    /// Set when the server's grace period ends early (its task cancelled): drain stops waiting.
    let forcedStop: ForcedStop
    /// `configuration.idleTimeout` in nanoseconds, converted once (Duration arithmetic costs
    /// about 20 ns, and every keep-alive request arms this timeout).
    private let idleTimeoutNanoseconds: UInt64

    /// When a connection going idle now times out (coarse clock, as of this loop turn).
    var idleDeadline: Deadline {
        let (sum, overflow) = Deadline.runNow.nanoseconds.addingReportingOverflow(idleTimeoutNanoseconds)
        return Deadline(nanoseconds: overflow ? .max : sum)
    }

    init(index: Int, configuration: ServerConfiguration, connectionCap: Int, router: Router<Handler>, logger: Logger,
         forcedStop: ForcedStop, metrics: ServerMetrics, tlsSlot: TLSContextSlot? = nil) {
        self.index = index
        self.tlsSlot = tlsSlot
        self.forcedStop = forcedStop
        self.metrics = WorkerMetrics(recordsRequests: configuration.collectsRequestMetrics, routes: router.routeNames.count)
        serverMetrics = metrics
        self.configuration = configuration
        self.connectionCap = connectionCap
        self.router = router
        self.logger = logger
        idleTimeoutNanoseconds = (Deadline(nanoseconds: 0) + configuration.idleTimeout).nanoseconds
        let limits = configuration.limits
        let bufferSize = limits.maxHeadLength + (16 << 10) + 4096  // a whole provided buffer fits after any incomplete head
        let warm = configuration.preallocatedRequests
        receiveBuffers = ObjectPool(preallocate: warm, retainedCount: max(warm, 1024), make: { ReceiveBuffer(capacity: bufferSize) },
                                    prepareForReuse: { $0.start = 0; $0.end = 0 })
        smallReceiveBuffers = ObjectPool(preallocate: warm, retainedCount: max(warm, 1024),
                                         make: { ReceiveBuffer(capacity: ReceiveBuffer.smallCapacity) },
                                         prepareForReuse: { $0.start = 0; $0.end = 0 })
        // The head parser is not given the body limit: a `Content-Length` over it becomes a
        // request whose body has failed (`Exchange.begin`), answered 413 by the router's
        // dispatch, inside the middleware, instead of a parse error no middleware sees.
        var headLimits = limits
        headLimits.maxBodyBytes = 0
        parsers = ObjectPool(preallocate: warm, retainedCount: max(warm, 1024), make: { ParserBox(limits: headLimits) },
                             prepareForReuse: { $0.parser.reset(); $0.forgetRewrittenPaths() })
        // An output buffer grows to the largest response batched into it; the pool keeps it at
        // most at the flush threshold, so large responses leave no lasting memory behind.
        outputs = ObjectPool(preallocate: warm, retainedCount: max(warm, 1024), make: { OutputBox() },
                             prepareForReuse: { $0.buffer.removeAll(shrinkingAbove: HTTPConnection.flushThreshold, to: OutputBox.initialCapacity) })
        arenas = ObjectPool(preallocate: warm, retainedCount: max(warm, 1024), make: { RequestScope(logger: logger) },
                            prepareForReuse: { $0.arena.reset() })
    }

    /// The accept loop: the worker's first fiber. Ends (and drains) when cancelled by stop, or
    /// when the listener fails for good (then it drains too, and rethrows so the runtime stops).
    /// Running out of descriptors never ends it: `accept` backs off, and this logs it at most
    /// once a second.
    func acceptLoop(listener: TCPListener) throws {
        Fiber.spawnDetached(name: "connection-timeouts") { [timeouts, self] in
            // Every second (or every trim interval, when shorter): parked fibers' stack pages,
            // in bounded batches; the whole trim once per interval.
            let tick = configuration.memoryTrimInterval.map { min($0, .seconds(1)) }
            timeouts.sweep(housekeepingEvery: tick) { self.housekeeping() }
        }
        serverMetrics.workerStarted(self)
        // However the loop ends, stop accepting at once and drain in a fiber that is not
        // cancelled (this one is when stop() ended it, and a cancelled fiber cannot park). The
        // connections the backend accepted before it stopped are served, not closed: on a
        // listening socket shared with other processes (a reload under the supervisor) they
        // are nobody else's. The drain keeps the worker alive until the last request has
        // finished, then ends the sweeper; without it the sweeper would stay parked and
        // `Runtime.run` never return.
        defer {
            Fiber.spawnDetached { [self] in
                for socket in listener.stopAccepting(deadline: .now + .seconds(1)) { serve(socket) }
                drain()
            }
        }
        var lastReport = Deadline(nanoseconds: 0)
        var unreported = 0
        listener.onTransientError = { [logger, connectionCap] error, backOff in
            unreported += 1
            let now = Deadline.coarseNow
            guard now.nanoseconds &- lastReport.nanoseconds >= 1_000_000_000 else { return }
            lastReport = now
            logger.warning("accept failed \(unreported) time(s) since the last report, now with \(error); retrying in \(backOff). The process is out of descriptors or memory: raise `ulimit -n` (hard limit) or lower maxConnectionsPerWorker (\(connectionCap))")
            unreported = 0
        }
        while true {
            let socket: TCPConnection
            do {
                socket = try listener.accept()
            } catch is CancellationError {
                return
            } catch {
                logger.error("worker \(index) stops accepting: \(error)")
                throw error
            }
            serve(socket)
        }
    }

    /// Fibers whose stack pages one housekeeping tick gives back at most: about 2 µs each, so a
    /// tick holds the worker for at most ~5 ms however many fibers are parked (10,000 event
    /// streams that all just sent an event are done within five ticks).
    static let stackReleaseBatch = 2048

    /// The sweeper's periodic work (every second, or every `memoryTrimInterval` when shorter):
    /// parked fibers give back the stack pages below where they wait, `stackReleaseBatch` at a
    /// time; once per `memoryTrimInterval`, `trimMemory`.
    func housekeeping() {
        _ = Scheduler.current?.releaseParkedStackPages(atMost: Self.stackReleaseBatch)
        guard let interval = configuration.memoryTrimInterval, Deadline.now >= nextMemoryTrim else { return }
        nextMemoryTrim = .now + interval
        trimMemory()
    }

    /// Gives back memory a spike left behind (every `memoryTrimInterval`, on the sweeper's fiber):
    /// each pool drops the free objects no connection took since the last trim, down to the
    /// preallocated count; the scheduler drops the recycled fibers no spawn took and discards
    /// the pages of the warm stacks none needed; and when any of that happened, the allocator
    /// is asked to return free memory to the kernel; idle connections give back their send
    /// objects. After a load spike ends, memory is back within two periods; under a steady load
    /// nothing is dropped that the load uses. Cost when nothing is surplus: a few comparisons
    /// every period, and a walk of the connection table. (Parked fibers' stack
    /// pages are given back apart from this, by `housekeeping`.)
    func trimMemory() {
        let floor = configuration.preallocatedRequests
        let released = Allocator.givingBack {
            var released = receiveBuffers.trim(keepingAtLeast: floor) + smallReceiveBuffers.trim(keepingAtLeast: floor)
            released += parsers.trim(keepingAtLeast: floor)
            released += outputs.trim(keepingAtLeast: floor) + arenas.trim(keepingAtLeast: floor)
            // Idle connections give their send object back (to the thread's spares): ~100 bytes
            // each that an idle connection does not use. Done here, not as each goes idle, so a
            // keep-alive request pays nothing for it.
            for connection in connections.values where connection.isIdle { connection.socket.releaseIdleSender() }
            if let scheduler = Scheduler.current {
                let trimmed = scheduler.trimMemory(keepingAtLeast: scheduler.stacks.configuration.initialCount)
                released += trimmed.fibers + trimmed.stacks
            }
            return released
        }
        if released > 0 { metrics.memoryTrims &+= 1 }
    }

    /// A new connection: served, or refused over the connection cap.
    private func serve(_ socket: TCPConnection) {
        if let tlsSlot {
            serveTLS(socket, context: tlsSlot.context)
            return
        }
        if connections.count >= connectionCap {
            metrics.connectionsRefused &+= 1
            refuse(socket)
            return
        }
        metrics.connectionsAccepted &+= 1
        let connection = HTTPConnection(worker: self, socket: socket)
        connections[ObjectIdentifier(connection)] = connection
        connection.startReceiving()
    }

    /// A new connection of a TLS server: a fiber of its own runs the handshake and its requests
    /// (`TLSConnection`); over the connection cap it is closed at once (no plaintext 503 on a
    /// TLS port).
    private func serveTLS(_ socket: TCPConnection, context: TLSContext) {
        guard tlsConnections.count < connectionCap, let stream = try? TLSStream(accepting: socket, context: context) else {
            metrics.connectionsRefused &+= 1
            socket.close()
            return
        }
        metrics.connectionsAccepted &+= 1
        let connection = TLSConnection(worker: self, stream: stream)
        tlsConnections[ObjectIdentifier(connection)] = connection
        let handshakeTimeout = context.configuration.handshakeTimeout
        connection.fiber = Fiber.spawn(name: "tls-connection") { connection.run(handshakeTimeout: handshakeTimeout) }
    }

    func tlsConnectionClosed(_ connection: TLSConnection) {
        tlsConnections[ObjectIdentifier(connection)] = nil
        connection.fiber = nil
    }

    /// Cancels the TLS connections that hold no request (all of them with `all`).
    private func cancelTLSConnections(all: Bool) {
        for connection in Array(tlsConnections.values) where all || connection.holdsNoRequest { connection.cancel() }
    }

    /// Over the connection cap: answer 503 and close at once, without a fiber or a wait. A
    /// flood can bring thousands of these in one burst of accepts; each holds its descriptor
    /// only for this call, so turning them away never uses the descriptors the cap keeps free.
    private func refuse(_ socket: TCPConnection) {
        Self.overCapReply.withUnsafeBytes { _ = socket.refuse(with: $0) }
    }

    private static let overCapReply = Array("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 1\r\n\r\n".utf8)

    /// How long, at most, a stop waits for the first request of a connection accepted just
    /// before it (see `drain`).
    static let firstRequestGraceAtStop: Duration = .milliseconds(500)

    /// How long, at most, a stop waits for the next request of an idle keep-alive connection
    /// (see `drain`): a client in a request loop sends it within microseconds of its last answer.
    static let nextRequestGraceAtStop: Duration = .milliseconds(100)

    /// Graceful shutdown of this worker: requests in flight finish (up to the grace period, or
    /// until a forced stop ends it), then the remaining connections are closed.
    ///
    /// A connection waiting for a request is not closed at once, because its client may be
    /// sending one: closing then would lose that request (the client reads an end of stream, or
    /// a reset, where it expected an answer). A keep-alive connection gets up to
    /// `nextRequestGraceAtStop` for its next request, one that has not had a request yet —
    /// accepted just before the stop — up to `firstRequestGraceAtStop` for its first (both
    /// within the grace period). A request that arrives meanwhile is served and answered with
    /// `Connection: close`, and the connection closes after it; the others close when their
    /// wait is over. Costs a 5 ms poll of the connections while any waits.
    private func drain() {
        stopping = true
        if let scheduler = Scheduler.current { forcedStop.register(index: index, scheduler: scheduler, drained: drained) }
        defer { forcedStop.unregister(index: index) }
        for connection in Array(connections.values) where !connection.awaitsRequest { connection.closeIfIdle() }
        cancelTLSConnections(all: false)
        let deadline = Deadline.now + configuration.shutdownGracePeriod
        let firstRequestDeadline = min(deadline, .now + Self.firstRequestGraceAtStop)
        let nextRequestDeadline = min(deadline, .now + Self.nextRequestGraceAtStop)
        var keepAliveWaitIsOver = false
        while Deadline.now < firstRequestDeadline && !forcedStop.isRequested {
            if !keepAliveWaitIsOver && Deadline.now >= nextRequestDeadline {
                keepAliveWaitIsOver = true
                for connection in Array(connections.values) where !connection.awaitsFirstRequest { connection.closeIfIdle() }
            }
            let waiting = connections.values.contains { keepAliveWaitIsOver ? $0.awaitsFirstRequest : $0.awaitsRequest }
            guard waiting else { break }
            try? Fiber.sleep(until: min(keepAliveWaitIsOver ? firstRequestDeadline : nextRequestDeadline, .now + .milliseconds(5)))
        }
        for connection in Array(connections.values) { connection.closeIfIdle() }
        while (activeRequests > 0 || asyncSends > 0) && Deadline.now < deadline && !forcedStop.isRequested {
            drained.reset()
            try? drained.wait(deadline: deadline)
        }
        for connection in Array(connections.values) { connection.forceClose() }
        cancelTLSConnections(all: true)
        // Cancelled requests and sends still run to their end (and touch this worker): wait.
        while activeRequests > 0 || asyncSends > 0 || !tlsConnections.isEmpty {
            drained.reset()
            try? drained.wait(deadline: .now + (tlsConnections.isEmpty ? .seconds(1) : .milliseconds(5)))
        }
        timeouts.stop()
        serverMetrics.workerStopped(self)
    }

    func connectionClosed(_ connection: HTTPConnection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    func requestFinished() {
        activeRequests -= 1
        if stopping && activeRequests == 0 { drained.set() }
    }

    /// A serving fiber starts: one more active request. Out of line, like the methods below.
    @inline(never)
    func servingStarted() {
        activeRequests += 1
    }

    /// A serving fiber ends: `requestFinished`, then its `clock` settled into the metrics. Out
    /// of line, like the methods below.
    @inline(never)
    func servingFinished(_ clock: inout RequestClock) {
        requestFinished()
        clock.settle(&metrics)
    }

    /// Counts an answered request (the caller checked that requests are counted): its method,
    /// status, the arena's use, and its time through `clock` (for its route's row too; nil:
    /// unrouted). Out of line, so that the worker and its metrics are borrowed, not retained
    /// around the counting.
    @inline(never)
    func requestAnswered(_ head: HTTPRequestHead, status: Int, route: Int?, clock: inout RequestClock, arena: RequestArena) {
        metrics.requestAnswered(method: MethodClass(head), status: status, arena: arena.usage)
        clock.answered(route: route ?? metrics.unroutedRow, &metrics)
    }

    /// Counts a request answered on a TLS connection (through a `MemoryExchange`): as
    /// `requestAnswered`, from what the exchange recorded. Out of line, like it.
    @inline(never)
    func requestAnswered(_ exchange: MemoryExchange, clock: inout RequestClock) {
        guard let answered = exchange.answered else { return }
        metrics.requestAnswered(method: answered.method, status: answered.status, arena: answered.arena)
        clock.answered(route: exchange.route ?? metrics.unroutedRow, &metrics)
        clock.settle(&metrics)
    }

    // MARK: - The router and the request arena of each request
    //
    // Methods of the worker, out of line, so that the worker is `self`, borrowed from the
    // caller, and its pool with it. (While a connection reached its worker through an
    // `unowned(unsafe)` reference, the worker and the pool were retained and released around
    // each take and give-back; the connection's reference is a strong `let` now, which callers
    // borrow too.)

    /// The router's response to `request` (`Router.respond`). Out of line for the same reason:
    /// the router is borrowed from the worker here, where `worker.router.respond` in a
    /// connection retained and released it around the call.
    @inline(never)
    func respond(_ request: Request, _ context: inout Context) -> Response { router.respond(request, &context) }

    /// A request arena, with the worker's logger, from the pool (made when it is empty). Cost: a
    /// call and a pointer move.
    @inline(never)
    func takeScope() -> RequestScope { arenas.take() ?? RequestScope(logger: logger) }

    /// Gives `scope` back to the pool (its arena reset for reuse). Cost: a call and
    /// `RequestArena.reset`.
    @inline(never)
    func giveBack(scope: consuming RequestScope) { arenas.giveBack(scope) }

    // Giving back calls the pool's `prepareForReuse` closure. Inlined into a connection, the
    // pool (reached through `worker`) was retained and released around that opaque call, two
    // atomic operations per object; here the pool is borrowed from `self`.

    /// Gives a connection's receive buffer back to the pool of its size (emptied for reuse).
    /// Cost: a call and two stores.
    @inline(never)
    func giveBack(buffer: consuming ReceiveBuffer) {
        if buffer.isSmall { smallReceiveBuffers.giveBack(buffer) } else { receiveBuffers.giveBack(buffer) }
    }

    /// Gives a connection's parser box back to the pool (its parser reset). Cost: a call and
    /// the reset.
    @inline(never)
    func giveBack(parser: consuming ParserBox) { parsers.giveBack(parser) }

    /// Gives an output box back to the pool (its buffer emptied, shrunk above the flush
    /// threshold). Cost: a call and the emptying.
    @inline(never)
    func giveBack(output: consuming OutputBox) { outputs.giveBack(output) }

    // The connection timeouts, out of line for the same reason: inlined into a connection,
    // `timeouts` was retained and released around every arm and disarm.

    /// Arms `connection`'s timeout of `kind` at `deadline` (`ConnectionTimeouts.arm`). Cost: a
    /// call and a few pointer moves.
    @inline(never)
    func armTimeout(of connection: HTTPConnection, _ kind: TimeoutKind, deadline: Deadline) {
        timeouts.arm(connection, kind, deadline: deadline)
    }

    /// Disarms `connection`'s timeout, if armed (`ConnectionTimeouts.disarm`). Cost: a call and
    /// a few pointer moves.
    @inline(never)
    func disarmTimeout(of connection: HTTPConnection) { timeouts.disarm(connection) }
}
