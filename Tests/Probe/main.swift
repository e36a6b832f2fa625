// spindle-probe: a tiny program the tests run in a subprocess to check how Spindle dies —
// stack overflow reports and misuse messages — which cannot be tested in the test process.
//
//   spindle-probe <mode>
//
// Every mode prints "probe: <mode>" to stdout first, then does one thing that must either
// succeed (exit 0, "probe: done") or stop the process with Spindle's message on stderr.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpindleFibers
import SpindleTestSupport


/// Keeps the optimiser from removing or tail-calling the recursion below.
@inline(never)
func blackHole(_ pointer: UnsafeMutableRawPointer) {
    withExtendedLifetime(pointer) {}
}

/// Recurses without bound, each frame holding ~1 KiB (well below the 16 KiB guard, so every
/// overflow lands in the guard area instead of skipping it).
@inline(never)
func recurse(_ depth: Int) -> Int {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
        buffer.initialize(repeating: UInt8(truncatingIfNeeded: depth))
        blackHole(UnsafeMutableRawPointer(buffer.baseAddress!))
        if depth == Int.max { return 0 }
        return recurse(depth + 1) &+ Int(buffer[depth & 1023])
    }
}

/// Recurses (~1 KiB frames) until a frame lies below `floor`, then unwinds: an overflow of a
/// bounded depth, for stacks whose overflow is caught by a canary rather than a fault.
@inline(never)
func recurse(below floor: UInt, _ depth: Int) -> Int {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
        buffer.initialize(repeating: UInt8(truncatingIfNeeded: depth))
        blackHole(UnsafeMutableRawPointer(buffer.baseAddress!))
        if UInt(bitPattern: buffer.baseAddress!) < floor { return Int(buffer[0]) }
        return recurse(below: floor, depth + 1) &+ Int(buffer[depth & 1023])
    }
}

final class Holder {
    var array: [Int] = [1, 2, 3]
    var counter = 7
}

@inline(never)
func modify(_ array: inout [Int], _ body: () -> Void) {
    body()
    array.append(4)
}

/// A handle a fiber can reach from its own body.
final class HandleBox {
    var handle: FiberHandle<Void>? = nil
}

/// Deliberately moves a non-Sendable object to another thread (the misuse under test).
struct UncheckedTransfer<Value>: @unchecked Sendable {
    // @unchecked Sendable: the probe misuses the value across threads on purpose.
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs `body` on a new POSIX thread and waits for it.
func runOnAnotherThread(_ body: @escaping @Sendable () -> Void) {
    final class Start {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let start = Unmanaged.passRetained(Start(body)).toOpaque()
    pthread_create(&thread, nil, { raw in
        Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, start)
    pthread_join(thread, nil)
}

let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "help"
say("probe: \(mode)")

switch mode {
case "ok":
    let value = Scheduler.run { () -> Int in
        let handle = Fiber.spawn { () -> Int in
            Fiber.yield()
            return 20
        }
        return 22 + ((try? handle.join()) ?? 0)
    }
    say("probe: value \(value)")

case "overflow", "overflow-small":
    // Unbounded recursion in a fiber: must be reported in words, then SIGABRT.
    Scheduler.run {
        let handle = Fiber.spawn(name: "recurser") { recurse(0) }
        say("probe: result \((try? handle.join()) ?? -1)")
    }

case "overflow-in-thread":
    // The same on a second OS thread: its own scheduler, its own alternate signal stack.
    runOnAnotherThread {
        Scheduler.run {
            let handle = Fiber.spawn(name: "recurser") { recurse(0) }
            say("probe: result \((try? handle.join()) ?? -1)")
        }
    }

case "overflow-past-canary":
    // Run with SPINDLE_STACK_LIGHTWEIGHT_GUARDS=0 SPINDLE_STACK_PROTECTED_GUARDS=0 (the path of
    // kernels without MADV_GUARD_INSTALL, past the mprotect budget) and SPINDLE_STACK_SIZE=65536:
    // the fiber overflows its stack by 4 KiB — over the canary, into the unprotected guard area
    // — and unwinds; its next switch-out must find the canary overwritten and say so.
    Scheduler.run {
        let handle = Fiber.spawn(name: "overflower") { () -> Int in
            let top = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { UInt(bitPattern: $0.baseAddress!) }
            let result = recurse(below: top - 65_536 - 4_096, 0)
            Fiber.yield()
            return result
        }
        say("probe: result \((try? handle.join()) ?? -1)")
    }

case "misuse-park-outside":
    // No scheduler on this thread.
    try? Fiber.sleep(for: .milliseconds(1))

case "spawn-outside":
    Fiber.spawn { say("probe: ran") }

case "spawn-detached-outside":
    Fiber.spawnDetached { say("probe: ran") }

case "join-self":
    Scheduler.run {
        let box = HandleBox()
        box.handle = Fiber.spawn { try box.handle!.join() }
        try? box.handle!.join()
    }

case "park-in-submitted-work":
    // Submitted work runs in the scheduler loop, outside any fiber: it may not park.
    Scheduler.run {
        Scheduler.current!.submit { Fiber.yield() }
        try? Fiber.sleep(for: .milliseconds(200))
    }

case "nested-run":
    Scheduler.run {
        Scheduler.run { say("probe: inner") }
    }

case "cancel-from-other-thread":
    Scheduler.run {
        let handle = Fiber.spawn { try? Fiber.sleep(for: .seconds(5)) }
        let fiber = UncheckedTransfer(handle.fiber)
        runOnAnotherThread { fiber.value.cancel() }
        try? handle.join()
    }

case "stacks-exhausted":
    let config = Scheduler.Configuration(stacks: .init(initialCount: 2, maximumCount: 2))
    Scheduler.run(configuration: config) {
        Fiber.spawn { say("probe: second fiber") }
        Fiber.spawn { say("probe: third fiber") }
    }

case "bad-env":
    // Run with SPINDLE_STACK_SIZE=12abc: the malformed tunable must stop the process by name.
    Scheduler.run { say("probe: ran") }

case "exclusivity-violation":
    // A real overlapping access inside one fiber must still be caught (the per-fiber access
    // set swap must not switch the checker off).
    let holder = Holder()
    Scheduler.run {
        _ = Fiber.spawn {
            modify(&holder.array) {
                holder.array.append(99)
            }
        }
    }

case "exclusivity-violation-after-yield":
    // The same, but the fiber first parks inside its access while another fiber runs: its
    // access must be swapped back in when it resumes, so the overlap is still caught.
    let holder = Holder()
    Scheduler.run {
        _ = Fiber.spawn {
            modify(&holder.array) {
                Fiber.yield()
                say("probe: resumed inside the access")
                say("probe: count \(holder.array.count)")  // used, so -O cannot drop the read
            }
        }
        _ = Fiber.spawn {
            say("probe: other fiber ran, count \(holder.counter)")
            Fiber.yield()
        }
    }

default:
    print("""
        usage: spindle-probe <mode>
        modes: ok overflow overflow-small overflow-in-thread overflow-past-canary misuse-park-outside spawn-outside spawn-detached-outside join-self
               park-in-submitted-work nested-run cancel-from-other-thread stacks-exhausted
               bad-env exclusivity-violation exclusivity-violation-after-yield
        """)
    exit(2)
}
say("probe: done")
