/// A pool of reusable objects of one type (the seed's pool-per-type, recipe 2): objects are made
/// up front at worker start, taken and given back in O(1) (LIFO, so hot objects are reused),
/// and made on demand when the pool runs dry, up to `maximumCount` objects in circulation.
/// Free objects beyond `retainedCount` are dropped so a spike does not stay resident.
/// Single-thread: one pool per worker.
public final class ObjectPool<Object: AnyObject> {
    private let make: () -> Object
    private let prepareForReuse: (Object) -> Void
    @exclusivity(unchecked) private var free: [Object] = []
    /// Objects handed out now.
    @exclusivity(unchecked) public private(set) var inUse = 0
    /// The most objects in use at once.
    @exclusivity(unchecked) public private(set) var peakInUse = 0
    /// Objects created because the pool was empty.
    @exclusivity(unchecked) public private(set) var misses = 0
    /// The most objects that may be in use at once (`take()` returns nil beyond).
    public let maximumCount: Int
    /// Free objects kept for reuse; more are released.
    public let retainedCount: Int

    // `@exclusivity(unchecked)`: one worker thread, short non-overlapping accesses.

    /// Creates a pool holding `preallocate` objects made by `make`; `prepareForReuse` runs on
    /// every object given back (reset its fields there).
    public init(preallocate: Int, maximumCount: Int = .max, retainedCount: Int? = nil,
                make: @escaping () -> Object, prepareForReuse: @escaping (Object) -> Void = { _ in }) {
        misusePrecondition(preallocate >= 0 && preallocate <= maximumCount, "ObjectPool: preallocate must be within 0...maximumCount")
        self.make = make
        self.prepareForReuse = prepareForReuse
        self.maximumCount = maximumCount
        self.retainedCount = retainedCount ?? max(preallocate, 64)
        free.reserveCapacity(preallocate)
        for _ in 0..<preallocate { free.append(make()) }
    }

    /// Free objects ready for reuse.
    public var available: Int { free.count }

    /// Takes an object (made if none is free); nil when `maximumCount` are in use.
    @inline(__always)
    public func take() -> Object? {
        guard inUse < maximumCount else { return nil }
        inUse += 1
        if inUse > peakInUse { peakInUse = inUse }
        if let object = free.popLast() { return object }
        misses += 1
        return make()
    }

    /// Gives an object back; it is prepared for reuse, or dropped above `retainedCount`.
    @inline(__always)
    public func giveBack(_ object: Object) {
        misusePrecondition(inUse > 0, "ObjectPool.giveBack: more objects given back than taken")
        inUse -= 1
        guard free.count < retainedCount else { return }
        prepareForReuse(object)
        free.append(object)
    }
}
