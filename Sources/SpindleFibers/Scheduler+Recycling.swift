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

    /// Releases every kept object and returns its stack to the pool (when the scheduler stops).
    func dropRecycledFibers() {
        while let fiber = takeRecycledFiber() {
            stacks.release(fiber.core.pointee.stack)
            fiber.nextRecycled = nil
        }
    }
}
