/// A growable FIFO ring of values (power-of-two capacity) over raw storage, for channel buffers.
///
/// Raw storage rather than `[Element?]`: unspecialised generic code (a `Channel<T>` used from
/// another module) then needs only `Element`'s own value witnesses, not a run-time lookup of
/// `Optional<Element>` metadata per operation. The owner calls `deallocate()` exactly once.
struct RingBuffer<Element> {
    private var storage: UnsafeMutablePointer<Element>
    private var capacity: Int
    private var head = 0
    private(set) var count = 0

    init(initialCapacity: Int) {
        var capacity = 1
        while capacity < Swift.max(initialCapacity, 1) { capacity <<= 1 }
        self.capacity = capacity
        self.storage = .allocate(capacity: capacity)
    }

    @inline(__always)
    mutating func append(_ value: Element) {
        if count == capacity { grow() }
        (storage + ((head + count) & (capacity - 1))).initialize(to: value)
        count += 1
    }

    @inline(__always)
    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let value = (storage + head).move()
        head = (head + 1) & (capacity - 1)
        count -= 1
        return value
    }

    /// Destroys the buffered values and frees the storage.
    mutating func deallocate() {
        while popFirst() != nil {}
        storage.deallocate()
        capacity = 0
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        for i in 0..<count {
            (bigger + i).moveInitialize(from: storage + ((head + i) & (capacity - 1)), count: 1)
        }
        storage.deallocate()
        storage = bigger
        capacity *= 2
        head = 0
    }
}
