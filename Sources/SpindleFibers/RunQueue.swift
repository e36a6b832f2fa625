/// The scheduler's FIFO of runnable fibers, linked through `FiberCore.runNext`: O(1) push/pop,
/// no allocation, no reference counting. Fibers in it are kept alive by the scheduler's
/// reference to every unfinished fiber.
struct RunQueue {
    private var head: CorePointer? = nil
    private var tail: CorePointer? = nil
    private(set) var count = 0

    var isEmpty: Bool { head == nil }

    @inline(__always)
    mutating func append(_ core: CorePointer) {
        core.pointee.runNext = nil
        if let tail { tail.pointee.runNext = core } else { head = core }
        tail = core
        count &+= 1
    }

    @inline(__always)
    mutating func popFirst() -> CorePointer? {
        guard let first = head else { return nil }
        head = first.pointee.runNext
        if head == nil { tail = nil }
        count &-= 1
        return first
    }
}
