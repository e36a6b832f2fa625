import CSpindle
import SpindleMemory

/// The part of a fiber the switch path touches, kept at a fixed address in the control block at
/// the top of the fiber's own stack (the page the fiber touches first anyway): no allocation,
/// no reference counting, no exclusivity checks on the way through a switch.
///
/// Invariant: valid from spawn until the fiber's stack is released after it finished; only the
/// owning scheduler's thread reads or writes it. `exclusivity` must stay the first field: its
/// address is handed to Swift's runtime as the fiber's access-set save area.
struct FiberCore {
    /// Swift's exclusivity access-set save area (SPINDLE_EXCLUSIVITY_STATE_SIZE bytes, zeroed).
    var exclusivity: (UInt64, UInt64) = (0, 0)
    /// The saved machine context while suspended.
    var context: spindle_fcontext_t? = nil
    /// Next fiber in the run queue.
    var runNext: UnsafeMutablePointer<FiberCore>? = nil
    /// The fiber object (unretained: the scheduler holds a reference until the fiber finishes).
    var fiber: Unmanaged<Fiber>
    var state: Fiber.State = .runnable
}

/// A fiber core pointer; the scheduler's hot path traffics in these instead of references.
typealias CorePointer = UnsafeMutablePointer<FiberCore>

extension FiberCore {
    /// Initialises `core` (the control block of `stack`) for `fiber`, with a fresh context
    /// that enters the fiber trampoline on `stack`.
    static func initialize(_ core: CorePointer, for fiber: Fiber, stack: FiberStack) {
        assert(MemoryLayout<FiberCore>.size <= StackPool.controlSize, "FiberCore outgrew the stack control block")
        core.initialize(to: FiberCore(fiber: .passUnretained(fiber)))
        core.pointee.context = Scheduler.makeContext(on: stack)
    }
}

extension UnsafeMutablePointer where Pointee == FiberCore {
    /// The exclusivity save area, as the runtime wants it.
    @inline(__always)
    var exclusivityState: UnsafeMutablePointer<CChar> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: CChar.self)
    }
}
