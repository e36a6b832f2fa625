extension StackPool {
    /// Sizes and limits of a stack pool. Every field has an environment override.
    ///
    /// | field          | default   | environment                |
    /// |----------------|-----------|----------------------------|
    /// | `stackSize`    | 256 KiB   | `SPINDLE_STACK_SIZE`       |
    /// | `guardSize`    | 16 KiB    | `SPINDLE_STACK_GUARD_SIZE` |
    /// | `initialCount` | 64        | `SPINDLE_STACKS_INITIAL`   |
    /// | `maximumCount` | 2,097,152 | `SPINDLE_STACKS_MAX`       |
    /// | `warmCount`    | 1,024     | `SPINDLE_STACKS_WARM`      |
    /// | `prefault`     | false     | `SPINDLE_STACKS_PREFAULT`  |
    /// | `lightweightGuards` | true | `SPINDLE_STACK_LIGHTWEIGHT_GUARDS` (0 or 1) |
    /// | `protectedGuardBudget` | `vm.max_map_count` / 8 | `SPINDLE_STACK_PROTECTED_GUARDS` |
    public struct Configuration: Sendable, Equatable {
        /// Usable bytes of each stack (rounded up to whole pages). Pages are committed only when
        /// a fiber touches them, so a large size costs address space, not memory.
        public var stackSize: Int
        /// Inaccessible bytes below each stack. A frame larger than this could skip past it.
        public var guardSize: Int
        /// Stacks mapped when the pool is created.
        public var initialCount: Int
        /// The most stacks the pool will ever map; `allocate()` returns nil beyond it.
        public var maximumCount: Int
        /// High watermark: free stacks beyond this many have their pages returned to the
        /// kernel (`madvise(MADV_DONTNEED)`) so a spike does not pin memory forever.
        public var warmCount: Int
        /// How many guard pages may be made with `mprotect` on kernels without
        /// `MADV_GUARD_INSTALL` (each splits a mapping and costs ~2 of the process's
        /// `vm.max_map_count` VMAs). Default: a quarter of `vm.max_map_count` / 2.
        /// Stacks beyond this budget get a canary checked on every switch instead.
        public var protectedGuardBudget: Int
        /// Use `MADV_GUARD_INSTALL` guard pages where the kernel has them (Linux 6.13+). False
        /// takes the path of older kernels even on a newer one — `mprotect` guards within
        /// `protectedGuardBudget`, canaries beyond — to test that path, or to compare.
        public var lightweightGuards: Bool
        /// Touch the top page of every stack mapped at creation (`initialCount`), so the page
        /// faults happen at startup rather than on the first spawns: one page of RSS per stack
        /// up front, in exchange for spawns that never fault. For servers that know their peak.
        public var prefault: Bool

        /// Creates a configuration; unspecified fields take the defaults in the table above.
        public init(
            stackSize: Int = 256 << 10,
            guardSize: Int = 16 << 10,
            initialCount: Int = 64,
            maximumCount: Int = 1 << 21,
            warmCount: Int = 1024,
            protectedGuardBudget: Int? = nil,
            prefault: Bool = false,
            lightweightGuards: Bool = true
        ) {
            self.prefault = prefault
            self.lightweightGuards = lightweightGuards
            self.stackSize = stackSize
            self.guardSize = guardSize
            self.initialCount = initialCount
            self.maximumCount = maximumCount
            self.warmCount = warmCount
            self.protectedGuardBudget = protectedGuardBudget ?? VirtualMemory.maxMapCount() / 8
        }

        /// The defaults, overridden by any `SPINDLE_STACK*` environment variable that is set.
        public static var fromEnvironment: Configuration {
            var c = Configuration()
            if let v = Environment.integer("SPINDLE_STACK_SIZE") { c.stackSize = v }
            if let v = Environment.integer("SPINDLE_STACK_GUARD_SIZE") { c.guardSize = v }
            if let v = Environment.integer("SPINDLE_STACKS_INITIAL") { c.initialCount = v }
            if let v = Environment.integer("SPINDLE_STACKS_MAX") { c.maximumCount = v }
            if let v = Environment.integer("SPINDLE_STACKS_WARM") { c.warmCount = v }
            if let v = Environment.integer("SPINDLE_STACKS_PREFAULT") { c.prefault = v != 0 }
            if let v = Environment.integer("SPINDLE_STACK_LIGHTWEIGHT_GUARDS") { c.lightweightGuards = v != 0 }
            if let v = Environment.integer("SPINDLE_STACK_PROTECTED_GUARDS") { c.protectedGuardBudget = v }
            return c
        }

        /// Checks the values and says what to change when one is unusable.
        func validated() -> Configuration {
            misusePrecondition(stackSize >= 16 << 10,
                         "StackPool: stackSize \(stackSize) is below 16 KiB; Swift code needs more (default 256 KiB)")
            misusePrecondition(guardSize >= 0, "StackPool: guardSize must be >= 0")
            misusePrecondition(stackSize <= 1 << 31, "StackPool: stackSize \(stackSize) is above 2 GiB")
            misusePrecondition(maximumCount >= 1 && maximumCount <= Int(UInt32.max),
                               "StackPool: maximumCount must be between 1 and \(UInt32.max)")
            misusePrecondition(initialCount >= 0 && initialCount <= maximumCount,
                         "StackPool: initialCount \(initialCount) must be between 0 and maximumCount \(maximumCount)")
            misusePrecondition(warmCount >= 0, "StackPool: warmCount must be >= 0")
            misusePrecondition(protectedGuardBudget >= 0, "StackPool: protectedGuardBudget must be >= 0 (0: canaries where MADV_GUARD_INSTALL is missing)")
            var c = self
            let page = VirtualMemory.pageSize
            c.stackSize = (stackSize + page - 1) / page * page
            c.guardSize = (guardSize + page - 1) / page * page
            return c
        }
    }
}
