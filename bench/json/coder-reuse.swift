// Which JSONEncoder/JSONDecoder should a response use: a new one per operation, one kept per
// thread (in Foundation's `Thread.current.threadDictionary`), or one shared by every thread
// (Foundation's coders are Sendable: their options sit behind a lock)? Spindle's `Response.json`
// and `Request.decode` use the fastest; Docs/benchmarks/json.md quotes the result.
//
// Build and run: `make -C bench json` (swiftc -O, Foundation only; pinned to two CPUs, which
// the two-thread cases use). Each comparison runs its variants in rotating turns (A, B, C, A,
// B, C, …), so load that comes and goes from other processes falls on all of them alike; each
// turn is `iterations` operations, and the median turn and the range are printed, in
// nanoseconds per operation (per operation per thread for the two-thread cases).
import Foundation

struct Message: Codable { let message: String }

struct Item: Codable {
    let id: Int
    let name: String
    let price: Double
    let tags: [String]
    let available: Bool
}

struct Page: Codable {
    let items: [Item]
    let total: Int
    let next: String?
}

let page = Page(items: (0..<20).map { Item(id: $0, name: "item number \($0)", price: Double($0) * 1.25,
                                           tags: ["a", "bb", "ccc"], available: $0 % 2 == 0) },
                total: 20, next: "/items?page=2")
let message = Message(message: "Hello, World!")

enum Key {
    static let encoder = "bench.jsonEncoder"
    static let decoder = "bench.jsonDecoder"
}

/// The calling thread's encoder, made on first use.
@inline(never)
func threadEncoder() -> JSONEncoder {
    let dictionary = Thread.current.threadDictionary
    if let encoder = dictionary[Key.encoder] as? JSONEncoder { return encoder }
    let encoder = JSONEncoder()
    dictionary[Key.encoder] = encoder
    return encoder
}

/// The calling thread's decoder, made on first use.
@inline(never)
func threadDecoder() -> JSONDecoder {
    let dictionary = Thread.current.threadDictionary
    if let decoder = dictionary[Key.decoder] as? JSONDecoder { return decoder }
    let decoder = JSONDecoder()
    dictionary[Key.decoder] = decoder
    return decoder
}

enum Shared {
    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()
}

/// One way of doing the operation: a name and the operation (returning something to keep).
struct Variant {
    let name: String
    let body: @Sendable () throws -> Int
}

/// Runs the variants in `turns` rotating turns of `iterations` operations each (on `threads`
/// threads at once, each doing `iterations`) after a warm-up, and prints each one's median
/// nanoseconds per operation (wall time, per thread) and its range.
func compare(_ title: String, iterations: Int, turns: Int, threads: Int = 1, _ variants: [Variant]) throws {
    print(title)
    var samples = Array(repeating: [Double](), count: variants.count)
    let clock = ContinuousClock()
    for turn in -1..<turns {  // turn -1 warms up
        for (index, variant) in variants.enumerated() {
            let count = turn < 0 ? max(iterations / 10, 1) : iterations
            let start = clock.now
            if threads == 1 {
                var sink = 0
                for _ in 0..<count { sink &+= try variant.body() }
                if sink == 42 { print(" ") }
            } else {
                DispatchQueue.concurrentPerform(iterations: threads) { _ in
                    var sink = 0
                    for _ in 0..<count { sink &+= (try? variant.body()) ?? 0 }
                    if sink == 42 { print(" ") }
                }
            }
            let (seconds, attoseconds) = (clock.now - start).components
            if turn >= 0 { samples[index].append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(count)) }
        }
    }
    for (variant, turnSamples) in zip(variants, samples) {
        let sorted = turnSamples.sorted()
        let median = sorted[sorted.count / 2]
        print("  " + variant.name.padding(toLength: 30, withPad: " ", startingAt: 0)
              + String(format: "%9.1f ns   (%.1f–%.1f)", median, sorted.first!, sorted.last!))
    }
}

@main
struct CoderReuse {
    static func main() throws {
        let quick = CommandLine.arguments.contains("--quick")
        let iterations = quick ? 2_000 : 100_000
        let turns = quick ? 3 : 15
        print("JSON coders: a new one per operation, one per thread (threadDictionary), one shared; Spindle's StreamingJSONEncoder")
        print("\(turns) rotating turns of \(iterations) operations (÷10 for the page); median ns per operation (min–max)\n")

        let messageData = try JSONEncoder().encode(message)
        let pageData = try JSONEncoder().encode(page)
        print("payloads: message \(messageData.count) B, page \(pageData.count) B\n")

        try compare("creating or finding a coder, nothing else", iterations: iterations, turns: turns, [
            Variant(name: "JSONEncoder()") { withExtendedLifetime(JSONEncoder()) { 1 } },
            Variant(name: "JSONDecoder()") { withExtendedLifetime(JSONDecoder()) { 1 } },
            Variant(name: "per-thread lookup") { withExtendedLifetime(threadEncoder()) { 1 } },
        ])
        try compare("encode message", iterations: iterations, turns: turns, [
            Variant(name: "new JSONEncoder()") { try JSONEncoder().encode(message).count },
            Variant(name: "per-thread encoder") { try threadEncoder().encode(message).count },
            Variant(name: "one shared encoder") { try Shared.encoder.encode(message).count },
            Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(message).count },
        ])
        try compare("encode page", iterations: iterations / 10, turns: turns, [
            Variant(name: "new JSONEncoder()") { try JSONEncoder().encode(page).count },
            Variant(name: "per-thread encoder") { try threadEncoder().encode(page).count },
            Variant(name: "one shared encoder") { try Shared.encoder.encode(page).count },
            Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(page).count },
        ])
        try compare("decode message", iterations: iterations, turns: turns, [
            Variant(name: "new JSONDecoder()") { try JSONDecoder().decode(Message.self, from: messageData).message.utf8.count },
            Variant(name: "per-thread decoder") { try threadDecoder().decode(Message.self, from: messageData).message.utf8.count },
            Variant(name: "one shared decoder") { try Shared.decoder.decode(Message.self, from: messageData).message.utf8.count },
        ])
        try compare("decode page", iterations: iterations / 10, turns: turns, [
            Variant(name: "new JSONDecoder()") { try JSONDecoder().decode(Page.self, from: pageData).total },
            Variant(name: "per-thread decoder") { try threadDecoder().decode(Page.self, from: pageData).total },
            Variant(name: "one shared decoder") { try Shared.decoder.decode(Page.self, from: pageData).total },
        ])
        try compare("encode message on two threads at once", iterations: iterations, turns: turns, threads: 2, [
            Variant(name: "new JSONEncoder()") { try JSONEncoder().encode(message).count },
            Variant(name: "per-thread encoder") { try threadEncoder().encode(message).count },
            Variant(name: "one shared encoder") { try Shared.encoder.encode(message).count },
            Variant(name: "StreamingJSONEncoder()") { try StreamingJSONEncoder().encode(message).count },
        ])
    }
}
