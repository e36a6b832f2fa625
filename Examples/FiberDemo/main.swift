// FiberDemo: 100,000 fibers in 50,000 pairs, each pair ping-ponging a counter over two
// channels. Prints how long it took, how many context switches that was, and the memory used.
//
//   swift run -c release FiberDemo [fibers] [rounds]
import SpindleFibers
import SpindleMemory

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let fiberCount = max(2, arguments.first ?? 100_000) / 2 * 2
let rounds = arguments.dropFirst().first ?? 10

let before = ProcessMemory.current()
let start = Deadline.now
let (switches, peak) = Scheduler.run { () -> (UInt64, ProcessMemory) in
    let group = WaitGroup()
    var peak = ProcessMemory.current()
    for pair in 0..<fiberCount / 2 {
        let ping = Channel<Int>(capacity: 1)
        let pong = Channel<Int>(capacity: 1)
        group.add(2)
        Fiber.spawn(name: "ping-\(pair)") {
            defer { group.done() }
            for i in 0..<rounds {
                try ping.send(i)
                guard try pong.receive() == i else { fatalError("pair \(pair) lost a message") }
            }
            ping.close()
        }
        Fiber.spawn(name: "pong-\(pair)") {
            defer { group.done() }
            for value in ping { try pong.send(value) }
        }
    }
    Fiber.yield()  // let every fiber start and park once
    peak = ProcessMemory.current()
    try! group.wait()
    return (Scheduler.current!.switches, peak)
}
let elapsed = Deadline.now - start
let messages = fiberCount * rounds
print("""
    FiberDemo: \(fiberCount) fibers, \(fiberCount / 2) pairs × \(rounds) round trips = \(messages) messages
      time        \(elapsed)
      switches    \(switches) (\(Int(Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / max(1, Int(switches))) ns each, all included)
      memory      before \(before)
                  peak   \(peak)  (+\(formatBytes((peak.residentBytes - before.residentBytes) / fiberCount)) RSS per fiber)
      allocator   \(Allocator.activeName)
    """)
