// ObjectPool: pool-per-type for the server's per-connection and per-request objects.
// `take()`/`giveBack(_:)` are `@inlinable` so that callers in other modules get code specialised
// for their object type (an unspecialised generic call looks up metadata and witness tables at
// run time on every call).

/// A pool of reusable objects of one type (the seed's pool-per-type, recipe 2): objects are made
/// up front at worker start, taken and given back in O(1) (LIFO, so hot objects are reused),
/// and made on demand when the pool runs dry, up to `maximumCount` objects in circulation.
/// Free objects beyond `retainedCount` are dropped so a spike does not stay resident.
/// With `pooling` off (`SPINDLE_POOLS=off`) the pool keeps nothing: every `take()` makes a new
/// object and `giveBack` drops it, so the allocator does all the work.
/// Single-thread: one pool per worker.
public final class ObjectPool<Object: AnyObject> {
    @usableFromInline let make: () -> Object
    @usableFromInline let prepareForReuse: (Object) -> Void
    // The free objects: a fixed buffer of `max(retainedCount, 1)` slots, of which `0..<freeCount` hold an
    // object (owned by the pool: +1 each); the rest are uninitialized. A plain buffer rather
    // than an Array: take/giveBack move an object in or out with no uniqueness check, no
    // capacity check and no extra retain/release (about 1 % of a keep-alive request's CPU).
    // Invariant: freeCount <= retainedCount <= the buffer's slots (giveBack keeps at most
    // retainedCount; the buffer has max(retainedCount, 1)).
    @usableFromInline let free: UnsafeMutablePointer<Object>
    // `@exclusivity(unchecked)`: one worker thread, short non-overlapping accesses.
    @exclusivity(unchecked) @usableFromInline var freeCount = 0
    @exclusivity(unchecked) @usableFromInline var inUseCount = 0
    @exclusivity(unchecked) @usableFromInline var peakInUseCount = 0
    @exclusivity(unchecked) @usableFromInline var missCount = 0
    /// The fewest free objects since the last `trim`: that many sat unused the whole time.
    @exclusivity(unchecked) @usableFromInline var lowestFreeSinceTrim = 0

    /// The most objects that may be in use at once (`take()` returns nil beyond).
    public let maximumCount: Int
    /// Free objects kept for reuse; more are released. 0 when `pooling` is off.
    public let retainedCount: Int
    /// Whether given-back objects are kept for reuse (`MemoryOptions.pooling` unless set at init).
    public let pooling: Bool

    /// Creates a pool holding `preallocate` objects made by `make`; `prepareForReuse` runs on
    /// every object given back (reset its fields there). With `pooling` off nothing is
    /// preallocated or kept and `prepareForReuse` never runs.
    public init(preallocate: Int, maximumCount: Int = .max, retainedCount: Int? = nil,
                pooling: Bool = MemoryOptions.pooling,
                make: @escaping () -> Object, prepareForReuse: @escaping (Object) -> Void = { _ in }) {
        misusePrecondition(preallocate >= 0 && preallocate <= maximumCount, "ObjectPool: preallocate must be within 0...maximumCount")
        self.make = make
        self.prepareForReuse = prepareForReuse
        self.maximumCount = maximumCount
        self.pooling = pooling
        self.retainedCount = pooling ? max(retainedCount ?? max(preallocate, 64), preallocate) : 0
        free = .allocate(capacity: max(self.retainedCount, 1))
        guard pooling else { return }
        for _ in 0..<preallocate {
            (free + freeCount).initialize(to: make())
            freeCount += 1
        }
        lowestFreeSinceTrim = freeCount
    }

    deinit {
        free.deinitialize(count: freeCount)
        free.deallocate()
    }

    /// Free objects ready for reuse.
    public var available: Int { freeCount }
    /// Objects handed out now.
    public var inUse: Int { inUseCount }
    /// The most objects in use at once.
    public var peakInUse: Int { peakInUseCount }
    /// Objects created because the pool was empty (every `take()` when `pooling` is off).
    public var misses: Int { missCount }

    /// Takes an object (made if none is free); nil when `maximumCount` are in use.
    /// Cost: a pointer move out of the free buffer; `make()` when the pool is empty.
    @inlinable @inline(__always)
    public func take() -> Object? {
        guard inUseCount < maximumCount else { return nil }
        inUseCount += 1
        if inUseCount > peakInUseCount { peakInUseCount = inUseCount }
        if freeCount > 0 {
            freeCount -= 1
            if freeCount < lowestFreeSinceTrim { lowestFreeSinceTrim = freeCount }
            return (free + freeCount).move()
        }
        lowestFreeSinceTrim = 0
        missCount += 1
        return make()
    }

    /// Releases the free objects that were not needed since the last call — as many as stayed
    /// free the whole time — down to `floor` free objects (the preallocated count, typically),
    /// oldest first; returns how many. Call it periodically (the server does every few
    /// seconds): after a spike, the objects it made go back to the allocator within two
    /// periods, while a steady load keeps what it uses. Cost: a release per object dropped.
    @discardableResult
    public func trim(keepingAtLeast floor: Int) -> Int {
        let surplus = min(lowestFreeSinceTrim, freeCount - max(floor, 0))
        defer { lowestFreeSinceTrim = freeCount }
        guard surplus > 0 else { return 0 }
        // The bottom of the free buffer holds the objects given back longest ago.
        free.deinitialize(count: surplus)
        free.moveInitialize(from: free + surplus, count: freeCount - surplus)
        freeCount -= surplus
        return surplus
    }

    /// Gives an object back; it is prepared for reuse, or dropped above `retainedCount`.
    /// Cost: `prepareForReuse` and a pointer store; a release when dropped. The pool takes over
    /// the caller's reference (`consuming`): one the caller moves in changes no reference count.
    @inlinable @inline(__always)
    public func giveBack(_ object: consuming Object) {
        if _slowPath(inUseCount <= 0) { givenBackTooOften() }
        inUseCount -= 1
        guard freeCount < retainedCount else { return }
        prepareForReuse(object)
        (free + freeCount).initialize(to: object)
        freeCount += 1
    }

    @usableFromInline @inline(never)
    func givenBackTooOften() -> Never {
        misuse("ObjectPool.giveBack: more objects given back than taken")
    }
}
