// client-bench: Spindle's HTTP client in a loop against one URL, for bench/client/run.py.
//
//     client-bench URL SECONDS CONCURRENCY
//
// One worker (one thread: pin it with taskset), CONCURRENCY fibers sharing one HTTPClient
// (a pool of CONCURRENCY keep-alive connections), each sending GET URL and reading the whole
// body again and again for SECONDS. Prints one line: `requests=N cpu_seconds=S errors=E`,
// where S is the process's user + system CPU time over the run (getrusage).
import Glibc
import SpindleFibers
import SpindleHTTPClient
import SpindleIO
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count == 4, let seconds = Double(arguments[2]), let concurrency = Int(arguments[3]), concurrency > 0 else {
    print("usage: client-bench URL SECONDS CONCURRENCY")
    exit(2)
}
let url = arguments[1]

/// The process's user + system CPU time in microseconds (getrusage).
@Sendable func cpuMicroseconds() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec
}

let requests = Atomic<Int>(0)
let errors = Atomic<Int>(0)
let cpuAtStart = Atomic<Int>(0)
let cpuAtEnd = Atomic<Int>(0)
let runtime = Runtime(configuration: Runtime.Configuration(workers: 1))
try runtime.run { worker in
    let client = HTTPClient(configuration: .init(maxConnectionsPerHost: concurrency))
    _ = try client.get(url)  // warm: one connection, the code paths
    cpuAtStart.store(cpuMicroseconds(), ordering: .relaxed)
    let end = Deadline.now + .milliseconds(Int(seconds * 1000))
    let group = WaitGroup()
    for _ in 0..<concurrency {
        group.add()
        Fiber.spawn {
            defer { group.done() }
            var done = 0, failed = 0
            while Deadline.now < end {
                do {
                    let response = try client.get(url)
                    if response.status.code == 200 { done += 1 } else { failed += 1 }
                } catch { failed += 1 }
            }
            requests.add(done, ordering: .relaxed)
            errors.add(failed, ordering: .relaxed)
        }
    }
    try group.wait()
    cpuAtEnd.store(cpuMicroseconds(), ordering: .relaxed)
    worker.runtime.stop()
}
let cpu = Double(cpuAtEnd.load(ordering: .relaxed) - cpuAtStart.load(ordering: .relaxed)) / 1e6
print("requests=\(requests.load(ordering: .relaxed)) cpu_seconds=\(cpu) errors=\(errors.load(ordering: .relaxed))")
