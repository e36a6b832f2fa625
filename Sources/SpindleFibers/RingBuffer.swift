/// A growable FIFO ring of values (power-of-two capacity), for channel buffers.
struct RingBuffer<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(initialCapacity: Int) {
        var capacity = 1
        while capacity < Swift.max(initialCapacity, 1) { capacity <<= 1 }
        storage = Array(repeating: nil, count: capacity)
    }

    @inline(__always)
    mutating func append(_ value: Element) {
        if count == storage.count { grow() }
        storage[(head + count) & (storage.count - 1)] = value
        count += 1
    }

    @inline(__always)
    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let value = storage[head].take()
        head = (head + 1) & (storage.count - 1)
        count -= 1
        return value
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for i in 0..<count { bigger[i] = storage[(head + i) & (storage.count - 1)].take() }
        storage = bigger
        head = 0
    }
}
