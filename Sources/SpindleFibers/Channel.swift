import SpindleMemory

/// A FIFO channel between fibers of one scheduler: bounded (senders park when full) or
/// unbounded. Receivers park while it is empty. `close()` ends it: buffered values can still be
/// received, then `receive()` returns nil; `send` throws `ChannelClosedError`.
///
/// Cost: no allocation per operation beyond the buffer's amortised growth; a send to a waiting
/// receiver is an enqueue plus making the receiver runnable. Values are handed over in order.
/// Single-scheduler: the first operation binds the channel to its thread; use
/// `Scheduler.submit` to feed it from elsewhere.
// `@exclusivity(unchecked)` on fields below: owner-thread only, never accessed across a fiber
// switch (see Fiber.swift), so dynamic exclusivity checks would only cost time.
public final class Channel<Element> {
    @exclusivity(unchecked) private var buffer: RingBuffer<Element>
    private let receivers = WaitQueue()
    private let senders = WaitQueue()
    @exclusivity(unchecked) private var owner: UnsafeMutableRawPointer? = nil
    /// The most values buffered before `send` parks (`Int.max` when unbounded).
    public let capacity: Int
    /// True once `close()` was called.
    @exclusivity(unchecked) public private(set) var isClosed = false

    /// A channel that buffers up to `capacity` (≥ 1) values. Allocates room for at most 4 values
    /// at first and doubles it as values queue up, to `capacity`: a channel per client that
    /// rarely holds more than one value (a chat member's queue) costs a few words.
    public init(capacity: Int) {
        misusePrecondition(capacity >= 1, "Channel(capacity: \(capacity)): capacity must be at least 1; use Channel.unbounded() for no limit")
        self.capacity = capacity
        self.buffer = RingBuffer(initialCapacity: Swift.min(capacity, 4))
    }

    deinit { buffer.deallocate() }

    /// A channel whose `send` never parks.
    public static func unbounded() -> Channel<Element> { Channel(unboundedCapacity: ()) }

    private init(unboundedCapacity: Void) {
        self.capacity = .max
        self.buffer = RingBuffer(initialCapacity: 16)
    }

    /// Values buffered now.
    public var count: Int { buffer.count }

    /// Sends `value`, parking while the channel is full. Throws `ChannelClosedError` when the
    /// channel is (or becomes) closed, `CancellationError` when the fiber is cancelled while
    /// parked, `TimeoutError` when `deadline` passes first.
    public func send(_ value: Element, deadline: Deadline? = nil) throws {
        let me = Fiber.currentCore("Channel.send")
        bind()
        while true {
            if isClosed { throw ChannelClosedError() }
            if buffer.count < capacity {
                buffer.append(value)
                receivers.wakeOne()
                return
            }
            senders.append(me)
            switch Fiber.park(me, cancellable: true, deadline: deadline, for: .channel) {
            case .cancelled: throw CancellationError()
            case .timedOut: throw TimeoutError()
            case .ready, .closing: continue
            }
        }
    }

    /// Sends without parking; returns false when full or closed.
    public func trySend(_ value: Element) -> Bool {
        bind()
        guard !isClosed, buffer.count < capacity else { return false }
        buffer.append(value)
        receivers.wakeOne()
        return true
    }

    /// Receives the next value, parking while the channel is empty. Returns nil once the channel
    /// is closed and drained. Throws `CancellationError` / `TimeoutError` like `send`.
    public func receive(deadline: Deadline? = nil) throws -> Element? {
        let me = Fiber.currentCore("Channel.receive")
        bind()
        while true {
            if let value = buffer.popFirst() {
                senders.wakeOne()
                return value
            }
            if isClosed { return nil }
            receivers.append(me)
            switch Fiber.park(me, cancellable: true, deadline: deadline, for: .channel) {
            case .cancelled: throw CancellationError()
            case .timedOut: throw TimeoutError()
            case .ready, .closing: continue
            }
        }
    }

    /// Receives without parking; nil when empty.
    public func tryReceive() -> Element? {
        bind()
        guard let value = buffer.popFirst() else { return nil }
        senders.wakeOne()
        return value
    }

    /// Closes the channel: parked senders throw `ChannelClosedError`, parked receivers drain
    /// what is buffered and then get nil. Idempotent.
    public func close() {
        bind()
        guard !isClosed else { return }
        isClosed = true
        receivers.wakeAll(.closing)
        senders.wakeAll(.closing)
    }

    @inline(__always)
    private func bind() {
        let current = CurrentScheduler.raw
        if _fastPath(owner == current && current != nil) { return }
        _ = Scheduler.requireCurrent("Channel")
        misusePrecondition(owner == nil, "Channel used from a second scheduler thread; channels connect fibers of one scheduler — cross threads with Scheduler.submit")
        owner = current
    }
}

extension Channel: Sequence {
    /// Iterates until the channel is closed and drained (or the fiber is cancelled).
    public struct Iterator: IteratorProtocol {
        let channel: Channel
        public mutating func next() -> Element? { (try? channel.receive()) ?? nil }
    }

    public func makeIterator() -> Iterator { Iterator(channel: self) }
}

/// Thrown by `Channel.send` on a closed channel.
public struct ChannelClosedError: Error, Equatable, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "send on a closed channel" }
}

