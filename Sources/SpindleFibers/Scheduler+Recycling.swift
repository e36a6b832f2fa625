// Recycling of finished `Fiber` objects: a spawn that finds one here reuses it instead of
// allocating (and later deinitialising and freeing) a new object, which is most of what a
// fire-and-forget `Fiber.spawn { }` would otherwise cost beyond its stack switch. The object
// keeps its (warm) stack while it waits here, so such a spawn does not go through the stack
// pool either; the stacks of kept objects count as in use in `stacks.inUse`.
//
// A finished fiber is recycled only when the scheduler's reference is the last strong one: no
// handle, no `Fiber.current` result kept anywhere. Its id, name, stack and core are replaced at
// the next spawn, so a *weak* or `unowned` reference kept to a finished fiber with no strong one
// may later see a different fiber; keep a handle (or the `Fiber`) to keep its identity.
// The list is intrusive (`Fiber.nextRecycled`) and bounded by the stack pool's warm watermark.

extension Scheduler {
    /// Finished fiber objects kept for reuse by the next spawns (at most the stack pool's
    /// `warmCount`).
    public var recycledFiberCount: Int { recycledCount }

    /// Takes a recycled fiber object (+1, owned by the caller), or nil when none is kept.
    @inline(__always)
    func takeRecycledFiber() -> Fiber? {
        guard let head = recycledFibers else { return nil }
        recycledFibers = head._withUnsafeGuaranteedRef { $0.nextRecycled }
        recycledCount &-= 1
        if recycledCount < lowestRecycledSinceTrim { lowestRecycledSinceTrim = recycledCount }
        return head.takeRetainedValue()
    }

    /// Called for a fiber (`core`) that finished and left its stack, with the scheduler's
    /// reference to it: keeps the object and its stack for reuse when that reference is the only
    /// one; else returns the stack to the pool and drops the reference.
    @inline(__always)
    func recycleOrRelease(_ core: CorePointer) {
        var object = core.pointee.fiber.takeRetainedValue()
        guard recycledCount < stacks.configuration.warmCount, isKnownUniquelyReferenced(&object) else {
            stacks.release(core.pointee.stack)  // overwrites the core (the pool's free-list node)
            return
        }
        object.clearForReuse()
        object.nextRecycled = recycledFibers
        // `consume`: the scheduler's +1 moves into the list (no retain/release pair).
        recycledFibers = Unmanaged.passRetained(consume object)
        recycledCount &+= 1
    }

    /// Gives back memory a spike left behind: the recycled fibers no spawn needed since the
    /// last call (as many as stayed on the list the whole time) release their stacks — kept
    /// warm up to `keepingAtLeast`, the rest's pages returned to the kernel at once —, and the
    /// stack pool returns to the kernel the pages of the warm stacks not needed since the last
    /// call, keeping `keepingAtLeast` warm stacks. Returns (fibers dropped, stacks discarded).
    /// Call it periodically from a fiber of this scheduler (the server does every few
    /// seconds): a spike's stacks go back within two calls. Cost: walks of
    /// both lists, a release per fiber dropped, an `madvise` per stack discarded.
    @discardableResult
    public func trimMemory(keepingAtLeast floor: Int) -> (fibers: Int, stacks: Int) {
        let surplus = min(lowestRecycledSinceTrim, recycledCount)
        let discardedBefore = stacks.discardedCount
        var dropped = 0
        if surplus > 0 {
            // Keep the most recently recycled (the head); drop the rest of the list.
            let keep = recycledCount - surplus
            var last: Unmanaged<Fiber>? = nil
            var node = recycledFibers
            for _ in 0..<keep {
                last = node
                node = node!._withUnsafeGuaranteedRef { $0.nextRecycled }
            }
            if let last { last._withUnsafeGuaranteedRef { $0.nextRecycled = nil } } else { recycledFibers = nil }
            while let current = node {
                let fiber = current.takeRetainedValue()
                node = fiber.nextRecycled
                fiber.nextRecycled = nil
                // Unneeded for a whole period: its stack's pages go back now (beyond the floor).
                stacks.release(fiber.core.pointee.stack, keepingWarmAtMost: floor)
                dropped += 1
            }
            recycledCount = keep
        }
        lowestRecycledSinceTrim = recycledCount
        _ = stacks.trimWarm(keepingAtLeast: floor)
        return (dropped, stacks.discardedCount &- discardedBefore)
    }

    /// Releases every kept object and returns its stack to the pool (when the scheduler stops).
    func dropRecycledFibers() {
        while let fiber = takeRecycledFiber() {
            stacks.release(fiber.core.pointee.stack)
            fiber.nextRecycled = nil
        }
    }

    /// Gives back the stack pages of parked fibers below where each is parked: what a fiber
    /// touched when it was deeper (routing, a handler's work, a write) and does not use while it
    /// waits — for a fiber that waits for minutes (an event stream, a WebSocket, a long poll)
    /// most of its stack's memory. Each park is handled once (`FiberCore.stackPagesReleased`,
    /// cleared by every park), at most `limit` fibers per call: the next call goes on with the
    /// others. A fiber that goes deeper again later faults the pages back in, as zeros. Returns
    /// the bytes of stack given back (counted whether resident or not).
    /// Cost: a walk of the stack pool's side table (a few loads per fiber) and one `madvise`
    /// per fiber handled (about 2 µs with pages to drop). Must run on this scheduler's thread,
    /// in one of its fibers (every other fiber is then suspended).
    public func releaseParkedStackPages(atMost limit: Int = .max) -> Int {
        assertOnThread("Scheduler.releaseParkedStackPages()")
        var released = 0
        var handled = 0
        forEachUnfinishedFiber { _, core in
            guard handled < limit, core.pointee.state == .parked, !core.pointee.stackPagesReleased,
                  let context = core.pointee.context else { return }
            // Invariant (`StackPool.releasePages`): a parked fiber is suspended, and `context`
            // is its saved stack pointer (boost.context keeps the saved registers there).
            released += stacks.releasePages(of: core.pointee.stack, below: UnsafeRawPointer(context))
            core.pointee.stackPagesReleased = true
            handled += 1
        }
        return released
    }
}
