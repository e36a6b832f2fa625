import SpindleMemory

/// A binary min-heap of parked fibers ordered by `FiberCore.timerDeadline`. Each fiber has at
/// most one pending timer and knows its index (`FiberCore.timerIndex`), so a fiber woken early
/// removes its timer in O(log n) instead of leaving garbage behind. Entries are core pointers:
/// a fiber with a timer is parked, hence unfinished, hence its core is valid.
struct TimerHeap {
    private var items: [CorePointer] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    /// The earliest deadline, if any.
    var earliest: UInt64? { items.first?.pointee.timerDeadline }

    mutating func insert(_ core: CorePointer, deadline: UInt64) {
        misusePrecondition(core.pointee.timerIndex < 0, "a fiber already has a pending timer")
        core.pointee.timerDeadline = deadline
        items.append(core)
        core.pointee.timerIndex = items.count - 1
        siftUp(items.count - 1)
    }

    mutating func remove(_ core: CorePointer) {
        let i = core.pointee.timerIndex
        guard i >= 0 else { return }
        core.pointee.timerIndex = -1
        let last = items.removeLast()
        if i < items.count {
            items[i] = last
            last.pointee.timerIndex = i
            siftDown(i)
            siftUp(i)
        }
    }

    /// Removes and returns the earliest fiber if its deadline is at or before `now`.
    mutating func popDue(now: UInt64) -> CorePointer? {
        guard let first = items.first, first.pointee.timerDeadline <= now else { return nil }
        remove(first)
        return first
    }

    private func deadline(_ i: Int) -> UInt64 { items[i].pointee.timerDeadline }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        items[a].pointee.timerIndex = a
        items[b].pointee.timerIndex = b
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
