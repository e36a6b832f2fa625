/// The scheduler's FIFO of runnable fibers, linked through `Fiber.runNext`: O(1) push/pop,
/// no allocation, no ARC traffic. Fibers in it are kept alive by the scheduler's reference to
/// every unfinished fiber, which is what makes the unowned(unsafe) links sound.
struct RunQueue {
    private unowned(unsafe) var head: Fiber? = nil
    private unowned(unsafe) var tail: Fiber? = nil
    private(set) var count = 0

    var isEmpty: Bool { head == nil }

    @inline(__always)
    mutating func append(_ fiber: Fiber) {
        fiber.runNext = nil
        if let tail { tail.runNext = fiber } else { head = fiber }
        tail = fiber
        count &+= 1
    }

    @inline(__always)
    mutating func popFirst() -> Fiber? {
        guard let first = head else { return nil }
        head = first.runNext
        if head == nil { tail = nil }
        first.runNext = nil
        count &-= 1
        return first
    }
}
