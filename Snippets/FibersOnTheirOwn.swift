// Fibers without a server: 100 workers square 1,000 numbers passed over channels, and the
// program prints the sum of the squares (333833500).

import SpindleFibers

let total = Scheduler.run { () -> Int in
    let jobs = Channel<Int>(capacity: 64)
    let results = Channel<Int>.unbounded()
    let workers = WaitGroup()
    for _ in 0..<100 {                        // 100 fibers, each with its own stack
        workers.add()
        Fiber.spawn {
            defer { workers.done() }
            for n in jobs {                   // parks this fiber, not the thread
                try Fiber.sleep(for: .milliseconds(1))
                try results.send(n * n)
            }
        }
    }
    for n in 1...1_000 { try! jobs.send(n) }  // parks while the channel is full
    jobs.close()
    try! workers.wait()
    results.close()
    return results.reduce(0, +)
}
print(total)  // 333833500
