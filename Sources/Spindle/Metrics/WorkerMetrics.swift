import SpindleHTTP
import SpindleMemory

// The counters one worker keeps on its hot path: plain integers owned by the worker's thread,
// no atomics and no locks. A scrape copies them on that thread (`ServerWorker.report(fibers:)`,
// posted with `Scheduler.submit`) and sums the copies; nothing reads them from another thread.

/// The request methods the counters keep apart (label `method`); any other method is `other`.
enum MethodClass: Int, CaseIterable, Sendable {
    case get, head, post, put, delete, patch, options, other

    /// The class of `head`'s method. Cost: a length switch and, for the common methods of three
    /// and four letters, one word compare (the others: a byte compare).
    @inline(__always)
    init(_ head: HTTPRequestHead) {
        let method = head.methodBytes
        switch method.count {
        #if _endian(little)
        case 3:
            let word = UInt32(method.loadUnaligned(as: UInt16.self)) | UInt32(method[2]) << 16
            self = word == 0x54_45_47 ? .get : word == 0x54_55_50 ? .put : .other  // "GET", "PUT"
        case 4:
            let word = method.loadUnaligned(as: UInt32.self)
            self = word == 0x44_41_45_48 ? .head : word == 0x54_53_4F_50 ? .post : .other  // "HEAD", "POST"
        #else
        case 3: self = head.methodIs("GET") ? .get : head.methodIs("PUT") ? .put : .other
        case 4: self = head.methodIs("HEAD") ? .head : head.methodIs("POST") ? .post : .other
        #endif
        case 5: self = head.methodIs("PATCH") ? .patch : .other
        case 6: self = head.methodIs("DELETE") ? .delete : .other
        case 7: self = head.methodIs("OPTIONS") ? .options : .other
        default: self = .other
        }
    }

    /// The label value: the method's name, or `other`.
    var label: String {
        switch self {
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .patch: "PATCH"
        case .options: "OPTIONS"
        case .other: "other"
        }
    }
}

/// The connection timeouts the counters keep apart (label `kind`).
enum TimeoutCause: Int, CaseIterable, Sendable {
    /// A keep-alive connection idle past `idleTimeout`, or a last response the client did not
    /// take within it.
    case idle
    /// A request head not complete within `headTimeout` of its first byte.
    case head
    /// A request body past `bodyTimeout`, or slower than `minimumBodyRate` (408).
    case body
    /// A response write the client did not take within `writeTimeout`.
    case write
    /// A lingering close that reached `lingeringCloseTimeout`.
    case linger
    /// A TLS handshake not done within `TLSConfiguration.handshakeTimeout`.
    case handshake

    /// The label value.
    var label: String { String(describing: self) }
}

/// Fixed log-spaced histogram buckets: finite bucket i counts values ≤ 2^(`shift` + i), values
/// over the last bound go to the `+Inf` bucket (index `finiteCount`). The index is one shift
/// and one leading-zero count: no table, no search, no allocation.
package struct PowerOfTwoBuckets: Sendable {
    /// log2 of the first upper bound.
    package let shift: Int
    /// Finite buckets; the `+Inf` bucket comes after them.
    package let finiteCount: Int

    /// Buckets in all, `+Inf` included (the length of a counts array).
    package var count: Int { finiteCount + 1 }

    /// The bucket `value` falls in (0 ... `finiteCount`).
    @inline(__always)
    package func index(_ value: UInt64) -> Int {
        guard value > 1 << UInt64(shift) else { return 0 }
        let index = UInt64.bitWidth - ((value &- 1) >> UInt64(shift)).leadingZeroBitCount
        return index < finiteCount ? index : finiteCount
    }

    /// The upper bound of finite bucket `index`.
    package func upperBound(_ index: Int) -> UInt64 { 1 << UInt64(shift + index) }

    /// Request durations in nanoseconds: 8.192 µs, 16.4 µs, … up to 2^34 ns (17.2 s).
    package static var requestNanoseconds: PowerOfTwoBuckets { PowerOfTwoBuckets(shift: 13, finiteCount: 22) }
    /// Arena bytes a request used: 256 B, 512 B, … up to 1 MiB.
    package static var arenaBytes: PowerOfTwoBuckets { PowerOfTwoBuckets(shift: 8, finiteCount: 13) }
    /// Fiber stack high-water: 1 KiB, 2 KiB, … 2 MiB, then `+Inf`.
    package static var stackBytes: PowerOfTwoBuckets { PowerOfTwoBuckets(shift: 10, finiteCount: 12) }
}

/// A worker's counters (the worker holds one; a scrape takes `copied()` and the copies are
/// summed). Incremented on the worker's thread only, with wrapping adds (nothing a client does
/// can make one trap). Recording a request is a handful of adds into arrays made at worker
/// start: no allocation, no atomic, no lock. The per-request arrays are `CounterArray`s,
/// shared by plain copies of this value: only `copied()` separates them.
struct WorkerMetrics: Sendable {
    /// Status codes kept apart: 100 ... 599, and one slot for any other.
    static var statusSlots: Int { 501 }
    /// Parse-error slots: one per `HTTPParseError.Reason`, then a request body whose chunk line
    /// or trailer did not fit in the receive buffer (it has no parse reason of its own).
    static var parseErrorSlots: Int { HTTPParseError.Reason.allCases.count + 1 }

    /// Whether requests are counted and timed (`ServerConfiguration.collectsRequestMetrics`);
    /// the other counters (rare events) always are.
    let recordsRequests: Bool

    /// Answered requests by method class and status: `method * statusSlots + status slot`.
    private(set) var requests: CounterArray<Int>
    /// Request durations, non-cumulative counts per `PowerOfTwoBuckets.requestNanoseconds` bucket.
    private(set) var durations: CounterArray<Int>
    /// Sum of the request durations, in nanoseconds.
    var durationNanoseconds: UInt64 = 0
    /// Arena bytes per request, non-cumulative counts per `PowerOfTwoBuckets.arenaBytes` bucket.
    private(set) var arenaBytes: CounterArray<Int>
    /// Sum of the arena bytes of every request.
    var arenaBytesSum = 0
    /// Requests whose arena use fit in its first block (no overflow block, no large allocation).
    var requestsInFirstBlock = 0
    /// Blocks chained beyond the first, summed over requests.
    var arenaOverflowBlocks = 0
    /// Arena allocations too large for a block (malloc'd), summed over requests.
    var arenaLargeAllocations = 0
    /// Requests whose connection closed under their handler: no response was written.
    var requestsCancelled = 0
    /// Malformed requests by reason (`parseErrorSlots`).
    var parseErrors: [Int]
    /// Timeouts by `TimeoutCause`.
    var timeouts: [Int]
    /// Connections accepted and taken in.
    var connectionsAccepted = 0
    /// Connections refused over the connection cap (answered 503 and closed).
    var connectionsRefused = 0
    /// TLS handshakes completed, and failed (a timeout, a bad or broken ClientHello, a
    /// certificate the client refused, a client closing halfway).
    var tlsHandshakes = 0
    var tlsHandshakeFailures = 0
    /// TLS connections whose records the kernel builds after the handshake (kTLS).
    var tlsKernelTransmits = 0
    /// Fiber stacks that passed 75% of their size (warned once per stack).
    var deepStacks = 0
    /// Periodic memory trims that gave something back (`ServerWorker.trimMemory`).
    var memoryTrims = 0
    /// Rows of the per-route table: one per route (`Router.routeNames`), then one for the
    /// requests no route answered (`unroutedRow`).
    let routeRows: Int
    /// Request durations per route, non-cumulative: row `route` holds its
    /// `PowerOfTwoBuckets.requestNanoseconds` counts at `route * buckets.count + bucket`.
    private(set) var routeDurations: CounterArray<Int>
    /// Sum of the request durations per route, in nanoseconds.
    private(set) var routeDurationNanoseconds: CounterArray<UInt64>

    /// Zeroed counters for a router of `routes` routes; the arrays are made here, once.
    init(recordsRequests: Bool, routes: Int) {
        self.recordsRequests = recordsRequests
        routeRows = max(0, routes) &+ 1
        routeDurations = CounterArray(count: routeRows * PowerOfTwoBuckets.requestNanoseconds.count)
        routeDurationNanoseconds = CounterArray(count: routeRows)
        requests = CounterArray(count: MethodClass.allCases.count * Self.statusSlots)
        durations = CounterArray(count: PowerOfTwoBuckets.requestNanoseconds.count)
        arenaBytes = CounterArray(count: PowerOfTwoBuckets.arenaBytes.count)
        parseErrors = Array(repeating: 0, count: Self.parseErrorSlots)
        timeouts = Array(repeating: 0, count: TimeoutCause.allCases.count)
    }

    /// The slot of status `code`.
    @inline(__always)
    static func statusSlot(_ code: Int) -> Int {
        (100...599).contains(code) ? code - 100 : statusSlots - 1
    }

    /// One answered request: its method class, status and what it used of its arena (its
    /// duration comes with `requestsTimed`).
    @inline(__always)
    mutating func requestAnswered(method: MethodClass, status: Int, arena: RequestArena.Usage) {
        requests.add(1, at: method.rawValue &* Self.statusSlots &+ Self.statusSlot(status))
        let bytes = UInt64(clamping: arena.bytes)
        arenaBytes.add(1, at: PowerOfTwoBuckets.arenaBytes.index(bytes))
        arenaBytesSum &+= arena.bytes
        if arena.overflowBlocks == 0 && arena.largeAllocations == 0 { requestsInFirstBlock &+= 1 }
        arenaOverflowBlocks &+= arena.overflowBlocks
        arenaLargeAllocations &+= arena.largeAllocations
    }

    /// `count` requests that each took `nanoseconds` (see `RequestClock`).
    @inline(__always)
    mutating func requestsTimed(_ count: Int, nanoseconds: UInt64) {
        durations.add(count, at: PowerOfTwoBuckets.requestNanoseconds.index(nanoseconds))
        durationNanoseconds &+= nanoseconds &* UInt64(truncatingIfNeeded: count)
    }

    /// The row of the requests no route answered (404, 405, a bad path, a middleware's own answer).
    var unroutedRow: Int { routeRows &- 1 }

    /// `count` requests of route row `route` that each took `nanoseconds` (a row out of range
    /// counts as unrouted).
    @inline(__always)
    mutating func routeTimed(_ route: Int, _ count: Int, nanoseconds: UInt64) {
        let row = route >= 0 && route < routeRows ? route : unroutedRow
        let buckets = PowerOfTwoBuckets.requestNanoseconds
        routeDurations.add(count, at: row &* buckets.count &+ buckets.index(nanoseconds))
        routeDurationNanoseconds.add(nanoseconds &* UInt64(truncatingIfNeeded: count), at: row)
    }

    /// A malformed request (a head or a body) answered with `error`'s status.
    mutating func parseError(_ error: HTTPParseError) {
        let slot = Int(error.reason.rawValue)
        let framingSlot = parseErrors.count - 1
        parseErrors[slot < framingSlot ? slot : framingSlot] &+= 1
    }

    /// A request body that failed to arrive (a timeout) or is malformed (counted by reason); a
    /// client closing mid-body is neither.
    mutating func bodyFailed(_ failure: BodyFailure) {
        switch failure {
        case .timedOut: timeouts[TimeoutCause.body.rawValue] &+= 1
        case .malformed(let error): parseError(error)
        case .framingTooLarge: parseErrors[parseErrors.count - 1] &+= 1
        case .clientClosed: break
        }
    }

    /// A timeout of `cause`.
    mutating func timedOut(_ cause: TimeoutCause) {
        timeouts[cause.rawValue] &+= 1
    }

    /// A copy whose arrays are new: what a scrape takes on the worker's thread and hands to
    /// another (the worker's own counter arrays never leave it, and its plain arrays stay
    /// uniquely referenced, so its next increment copies nothing). Allocates; at scrape time only.
    func copied() -> WorkerMetrics {
        var copy = self
        copy.requests = requests.copy()
        copy.durations = durations.copy()
        copy.arenaBytes = arenaBytes.copy()
        copy.parseErrors = parseErrors.map { $0 }
        copy.timeouts = timeouts.map { $0 }
        copy.routeDurations = routeDurations.copy()
        copy.routeDurationNanoseconds = routeDurationNanoseconds.copy()
        return copy
    }

    /// Adds `other`'s counts to these (summing workers).
    mutating func add(_ other: WorkerMetrics) {
        func addArray(_ mine: inout [Int], _ theirs: [Int]) {
            for i in mine.indices where i < theirs.count { mine[i] &+= theirs[i] }
        }
        requests.add(other.requests)
        durations.add(other.durations)
        durationNanoseconds &+= other.durationNanoseconds
        arenaBytes.add(other.arenaBytes)
        arenaBytesSum &+= other.arenaBytesSum
        requestsInFirstBlock &+= other.requestsInFirstBlock
        arenaOverflowBlocks &+= other.arenaOverflowBlocks
        arenaLargeAllocations &+= other.arenaLargeAllocations
        requestsCancelled &+= other.requestsCancelled
        addArray(&parseErrors, other.parseErrors)
        addArray(&timeouts, other.timeouts)
        connectionsAccepted &+= other.connectionsAccepted
        connectionsRefused &+= other.connectionsRefused
        tlsHandshakes &+= other.tlsHandshakes
        tlsHandshakeFailures &+= other.tlsHandshakeFailures
        tlsKernelTransmits &+= other.tlsKernelTransmits
        deepStacks &+= other.deepStacks
        memoryTrims &+= other.memoryTrims
        routeDurations.add(other.routeDurations)
        routeDurationNanoseconds.add(other.routeDurationNanoseconds)
    }
}
