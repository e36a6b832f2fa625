// await-bench: what one `Fiber.await` hop costs — a fiber handing a trivial async operation to
// Swift concurrency and parking until it is back — beside awaiting the same operation in a Task.
//
//     await-bench [--quick] [--hops N] [--turns N]
//
// The operation is an `async` function that returns its argument plus one (no I/O, no
// suspension). Modes, each HOPS operations a turn and TURNS turns, taken in rotation (A, B, C,
// D, A, …) so that load from other processes falls on all alike; the median turn is reported:
//
//   direct     a Task awaits the operation HOPS times (a call: no hop at all)
//   task       a Task runs `await Task { await operation(i) }.value` HOPS times (a Task per
//              operation: the hop onto the cooperative pool and back, within Swift concurrency)
//   fiber      one fiber on a one-worker Runtime calls `Fiber.await { await operation(i) }`
//              HOPS times (a Task per operation, the fiber parked meanwhile, woken through the
//              scheduler's inbox: the cost a handler pays per `context.await`)
//   fibers-64  64 fibers at once share the HOPS operations (hops in flight together: the
//              wake-ups batch; time per hop is the turn's wall time over HOPS)
//
// Prints nanoseconds per hop for each mode and the ratios fiber/direct and fiber/task. Pin it
// to two CPUs (`make await` does): the Runtime's worker and the cooperative pool each need one.
import Dispatch
import Glibc
import SpindleFibers
import SpindleIO
import Synchronization

/// The trivial operation: an async function that does not suspend.
@inline(never)
func operation(_ value: Int) async -> Int { value &+ 1 }

struct Options {
    var hops = 200_000
    var turns = 7

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick":
                hops = 2_000
                turns = 3
            case "--hops":
                guard let value = rest.popFirst().flatMap(Int.init), value > 0 else { usage() }
                hops = value
            case "--turns":
                guard let value = rest.popFirst().flatMap(Int.init), value > 0 else { usage() }
                turns = value
            default:
                usage()
            }
        }
    }

    func usage() -> Never {
        print("usage: await-bench [--quick] [--hops N] [--turns N]")
        exit(2)
    }
}

/// Runs `body` in a Task and blocks this (non-pool) thread until it returns its nanoseconds.
func inTask(_ body: @escaping @Sendable () async -> UInt64) -> UInt64 {
    let result = Atomic<UInt64>(0)
    let done = DispatchSemaphore(value: 0)
    Task {
        result.store(await body(), ordering: .releasing)
        done.signal()
    }
    done.wait()
    return result.load(ordering: .acquiring)
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Keeps a result alive so the loop is not optimised away.
let sink = Atomic<Int>(0)

func direct(hops: Int) -> UInt64 {
    inTask {
        var total = 0
        let start = now()
        for i in 0..<hops { total &+= await operation(i) }
        let elapsed = now() - start
        sink.add(total, ordering: .relaxed)
        return elapsed
    }
}

func taskPerOperation(hops: Int) -> UInt64 {
    inTask {
        var total = 0
        let start = now()
        for i in 0..<hops { total &+= await Task { await operation(i) }.value }
        let elapsed = now() - start
        sink.add(total, ordering: .relaxed)
        return elapsed
    }
}

/// `hops` Fiber.await calls shared by `fibers` fibers on one worker; wall nanoseconds.
func fiberAwait(hops: Int, fibers: Int) throws -> UInt64 {
    let elapsed = Atomic<UInt64>(0)
    let runtime = Runtime(configuration: Runtime.Configuration(workers: 1))
    try runtime.run { worker in
        defer { worker.runtime.stop() }
        let group = WaitGroup()
        let start = now()
        for f in 0..<fibers {
            group.add()
            Fiber.spawn {
                defer { group.done() }
                var total = 0
                var i = f
                while i < hops {
                    let value = i
                    total &+= (try? Fiber.await { await operation(value) }) ?? 0
                    i += fibers
                }
                sink.add(total, ordering: .relaxed)
            }
        }
        try group.wait()
        elapsed.store(now() - start, ordering: .relaxed)
    }
    return elapsed.load(ordering: .relaxed)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

let options = Options(CommandLine.arguments)
let modes: [(name: String, run: (Int) throws -> UInt64)] = [
    ("direct", { direct(hops: $0) }),
    ("task", { taskPerOperation(hops: $0) }),
    ("fiber", { try fiberAwait(hops: $0, fibers: 1) }),
    ("fibers-64", { try fiberAwait(hops: $0, fibers: 64) }),
]
print("await-bench: \(options.hops) hops a turn, \(options.turns) rotating turns per mode, median turn; ns per hop")
for mode in modes { _ = try mode.run(min(options.hops, 1_000)) }  // warm up: threads, pools, code paths
var turns: [String: [Double]] = [:]
for _ in 0..<options.turns {  // A, B, C, D, A, B, …: load from other processes falls on all alike
    for mode in modes { turns[mode.name, default: []].append(Double(try mode.run(options.hops)) / Double(options.hops)) }
}
var perHop: [String: Double] = [:]
for mode in modes {
    let measured = turns[mode.name]!
    perHop[mode.name] = median(measured)
    let spread = "min \(format(measured.min()!)) max \(format(measured.max()!))"
    print("\(mode.name.rightPadded(10)) \(format(median(measured)).leftPadded(10)) ns/hop  (\(spread))")
}
print("ratio fiber/direct \(format(perHop["fiber"]! / perHop["direct"]!))x, fiber/task \(format(perHop["fiber"]! / perHop["task"]!))x, fibers-64/task \(format(perHop["fibers-64"]! / perHop["task"]!))x")

func format(_ value: Double) -> String {
    let rounded = (value * 10).rounded() / 10
    return value >= 100 ? String(Int(value.rounded())) : String(rounded)
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
    func rightPadded(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
