/// One fixed-size stack handed out by a `StackPool`.
///
/// `StackPool.controlSize` bytes near the slot's end (staggered by the pool's cache colouring)
/// are reserved for the owner's control block (fiber bookkeeping that must sit at a fixed
/// address, in the page the fiber touches first anyway); the stack proper grows down from `top`.
/// Valid from `StackPool.allocate()` until `StackPool.release(_:)`; not thread-safe.
public struct FiberStack {
    // Four words, so that a `FiberStack` travels in registers: an indirect copy of a larger
    // struct, written with vector stores and read back with integer loads, stalled store
    // forwarding on every release.

    /// Highest usable address of the stack (16-byte aligned); the stack grows down from here.
    public let top: UnsafeMutableRawPointer
    /// Lowest usable word, holding `StackPool.canaryValue`, when no guard page protects this stack.
    @usableFromInline let canary: UnsafeMutablePointer<UInt64>?
    /// The slot's two words in the pool's side table: the owner's fiber id (which the overflow
    /// handler reads to name it), then its spawn time. (`@usableFromInline`: the pool's
    /// `@inlinable` per-request stores write through it.)
    @usableFromInline let owner: UnsafeMutablePointer<UInt64>
    @usableFromInline let usableBytes: UInt32
    private let slotNumber: UInt32

    /// Usable bytes below `top`.
    @inlinable public var size: Int { Int(usableBytes) }
    /// `StackPool.controlSize` bytes at `top` for the owner's use (zeroed by `allocate()` unless
    /// asked not to).
    public var control: UnsafeMutableRawPointer { top }
    /// The pool-wide slot number (stable for the pool's lifetime).
    public var slot: Int { Int(slotNumber) }

    init(top: UnsafeMutableRawPointer, size: Int, slot: Int, canary: UnsafeMutablePointer<UInt64>?,
         owner: UnsafeMutablePointer<UInt64>) {
        self.top = top
        self.usableBytes = UInt32(size)
        self.slotNumber = UInt32(slot)
        self.canary = canary
        self.owner = owner
    }

    /// The canary word, for stacks without a guard page (nil when a guard page protects it).
    @inlinable public var canaryWord: UnsafeMutablePointer<UInt64>? { canary }

    /// True when this stack is protected by a guard page (an overflow faults at once and is
    /// reported); false when only a canary, checked at each switch, can notice an overflow.
    public var hasGuardPage: Bool { canary == nil }

    /// False when the canary below the stack was overwritten: the fiber overflowed.
    /// Always true for stacks with a guard page. Cost: one load.
    @inline(__always)
    public var isIntact: Bool {
        guard let canary else { return true }
        return canary.pointee == StackPool.canaryValue
    }
}
