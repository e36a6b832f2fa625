/// A binary min-heap of parked fibers ordered by `Fiber.timerDeadline`. Each fiber has at most
/// one pending timer and knows its index (`Fiber.timerIndex`), so a fiber woken early removes
/// its timer in O(log n) instead of leaving garbage behind. Entries are unretained: a fiber
/// with a timer is parked, hence unfinished, hence kept alive by its scheduler.
struct TimerHeap {
    private var items: [Unmanaged<Fiber>] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    /// The earliest deadline, if any.
    var earliest: UInt64? { items.first.map { $0._withUnsafeGuaranteedRef { $0.timerDeadline } } }

    mutating func insert(_ fiber: Fiber, deadline: UInt64) {
        precondition(fiber.timerIndex < 0, "\(fiber) already has a pending timer")
        fiber.timerDeadline = deadline
        items.append(.passUnretained(fiber))
        fiber.timerIndex = items.count - 1
        siftUp(items.count - 1)
    }

    mutating func remove(_ fiber: Fiber) {
        let i = fiber.timerIndex
        guard i >= 0 else { return }
        fiber.timerIndex = -1
        let last = items.removeLast()
        if i < items.count {
            items[i] = last
            last._withUnsafeGuaranteedRef { $0.timerIndex = i }
            siftDown(i)
            siftUp(i)
        }
    }

    /// Removes and returns the earliest fiber if its deadline is at or before `now`.
    mutating func popDue(now: UInt64) -> Fiber? {
        guard let first = items.first, first._withUnsafeGuaranteedRef({ $0.timerDeadline }) <= now else { return nil }
        let fiber = first.takeUnretainedValue()
        remove(fiber)
        return fiber
    }

    private func deadline(_ i: Int) -> UInt64 { items[i]._withUnsafeGuaranteedRef { $0.timerDeadline } }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        items[a]._withUnsafeGuaranteedRef { $0.timerIndex = a }
        items[b]._withUnsafeGuaranteedRef { $0.timerIndex = b }
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard deadline(i) < deadline(parent) else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < items.count && deadline(l) < deadline(smallest) { smallest = l }
            if r < items.count && deadline(r) < deadline(smallest) { smallest = r }
            guard smallest != i else { return }
            swapAt(i, smallest)
            i = smallest
        }
    }
}
