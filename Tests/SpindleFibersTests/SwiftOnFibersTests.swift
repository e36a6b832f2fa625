// Swift on foreign stacks: language features and Foundation used inside fibers, across
// suspension points (classes and deinit, closures, generics, existentials, throws/defer,
// JSON coding, Date, String(format:), deep recursion, Synchronization.Mutex, collections).
import Foundation
import SpindleFibers
import SpindleTestSupport
import Synchronization
import XCTest

private protocol Shape {
    var area: Double { get }
    func scaled(by factor: Double) -> any Shape
}

private struct Square: Shape, Equatable {
    var side: Double
    var area: Double { side * side }
    func scaled(by factor: Double) -> any Shape { Square(side: side * factor) }
}

private struct Circle: Shape {
    var radius: Double
    var area: Double { Double.pi * radius * radius }
    func scaled(by factor: Double) -> any Shape { Circle(radius: radius * factor) }
}

private final class Node {
    static let live = Mutex(0)
    let value: Int
    var children: [Node] = []
    weak var parent: Node?
    init(_ value: Int) {
        self.value = value
        Node.live.withLock { $0 += 1 }
    }
    deinit { Node.live.withLock { $0 -= 1 } }
}

private struct Order: Codable, Equatable {
    var id: Int
    var customer: String
    var items: [Item]
    var placed: Date
    var notes: String?
    var tags: Set<String>

    struct Item: Codable, Equatable {
        var sku: String
        var quantity: Int
        var price: Decimal
    }
}

private struct Stack<Element> {
    private var items: [Element] = []
    mutating func push(_ e: Element) { items.append(e) }
    mutating func pop() -> Element? { items.popLast() }
    var isEmpty: Bool { items.isEmpty }
}

private func reversedThroughStack<C: Collection>(_ c: C) -> [C.Element] {
    var s = Stack<C.Element>()
    for e in c { s.push(e); Fiber.yield() }
    var out: [C.Element] = []
    while let e = s.pop() { out.append(e) }
    return out
}

private final class SharedCounter: Sendable {
    let mutex = Mutex(0)
}

/// The deepest stack address `recursiveHash` reached in the running fiber.
// nonisolated(unsafe): read and written only by fibers on the test thread.
nonisolated(unsafe) private let deepestFrame = FiberLocal<UInt>(defaultValue: 0)

/// Hashes 1...n recursively (`(h * 31) ^ n` is no tail call and no accumulator loop, so every
/// level really takes a frame, in release too), yielding every 250 levels.
@inline(never)
private func recursiveHash(_ n: Int) -> Int {
    if n == 0 {
        deepestFrame.value = stackAddress()
        return 0
    }
    if n % 250 == 0 { Fiber.yield() }
    return (recursiveHash(n - 1) &* 31) ^ n
}

private func iterativeHash(_ n: Int) -> Int {
    var h = 0
    for i in 1...n { h = (h &* 31) ^ i }
    return h
}

/// The address of a local in the caller's frame (on the real stack also under ASan).
@inline(never)
private func stackAddress() -> UInt {
    var marker = 0
    return withUnsafeMutablePointer(to: &marker) { AddressSanitizer.stackAddress(of: $0) }
}

final class SwiftOnFibersTests: XCTestCase {
    func testClassesAndDeinitAcrossYields() throws {
        XCTAssertEqual(Node.live.withLock { $0 }, 0)
        try Scheduler.run {
            let handles = (0..<4).map { i in
                Fiber.spawn { () -> Int in
                    let root = Node(i)
                    for j in 0..<50 {
                        let child = Node(j)
                        child.parent = root
                        root.children.append(child)
                        if j % 10 == 0 { Fiber.yield() }
                    }
                    Fiber.yield()
                    XCTAssertTrue(root.children.allSatisfy { $0.parent === root })
                    return root.children.reduce(root.value) { $0 + $1.value }
                }
            }
            XCTAssertEqual(try handles.map { try $0.join() }, (0..<4).map { $0 + 1225 })
        }
        XCTAssertEqual(Node.live.withLock { $0 }, 0, "every node was freed")
    }

    func testClosuresCaptureAndMutateAcrossYields() throws {
        try Scheduler.run {
            var counter = 0
            var makers: [() -> Int] = []
            let handles = (0..<3).map { i in
                Fiber.spawn {
                    var local = i * 100
                    let bump = { (by: Int) in local += by; counter += 1 }
                    for k in 1...5 {
                        bump(k)
                        Fiber.yield()
                    }
                    makers.append { local }
                }
            }
            for h in handles { try h.join() }
            XCTAssertEqual(counter, 15)
            XCTAssertEqual(makers.map { $0() }.sorted(), [15, 115, 215])
        }
    }

    func testGenericsAcrossYields() throws {
        try Scheduler.run {
            let a = Fiber.spawn { reversedThroughStack([1, 2, 3, 4]) }
            let b = Fiber.spawn { reversedThroughStack("fiber") }
            let c = Fiber.spawn { reversedThroughStack(Set([7])) }
            XCTAssertEqual(try a.join(), [4, 3, 2, 1])
            XCTAssertEqual(String(try b.join()), "rebif")
            XCTAssertEqual(try c.join(), [7])
        }
    }

    func testExistentialsAcrossYields() throws {
        try Scheduler.run {
            let handle = Fiber.spawn { () -> Double in
                var shapes: [any Shape] = [Square(side: 2), Circle(radius: 1), Square(side: 3)]
                Fiber.yield()
                shapes = shapes.map { $0.scaled(by: 2) }
                Fiber.yield()
                let anyValue: Any = shapes[0]
                XCTAssertEqual(anyValue as? Square, Square(side: 4))
                XCTAssertNil(anyValue as? Circle)
                return shapes.reduce(0) { $0 + $1.area }
            }
            XCTAssertEqual(try handle.join(), 16 + 4 * Double.pi + 36, accuracy: 1e-9)
        }
    }

    func testThrowsAndDeferAcrossYields() throws {
        try Scheduler.run {
            let log = Log()
            func step(_ n: Int) throws -> Int {
                defer { log("defer \(n)") }
                Fiber.yield()
                if n == 3 { throw TestError.boom(n) }
                return try n + step(n + 1)
            }
            let handle = Fiber.spawn { () -> String in
                do {
                    return "value \(try step(1))"
                } catch let error as TestError {
                    Fiber.yield()
                    return "caught \(error)"
                }
            }
            let other = Fiber.spawn {
                for _ in 0..<5 { log("other"); Fiber.yield() }
            }
            XCTAssertEqual(try handle.join(), "caught boom(3)")
            try other.join()
            XCTAssertEqual(log.entries.filter { $0.hasPrefix("defer") }, ["defer 3", "defer 2", "defer 1"])
            XCTAssertEqual(log.entries.filter { $0 == "other" }.count, 5)
        }
    }

    func testErrorsOfManyFibersStayApart() throws {
        try Scheduler.run {
            let handles = (0..<20).map { i in
                Fiber.spawn { () throws -> Int in
                    do {
                        Fiber.yield()
                        throw TestError.boom(i)
                    } catch TestError.boom(let n) {
                        Fiber.yield()
                        if n % 2 == 0 { throw TestError.other("even \(n)") }
                        return n
                    }
                }
            }
            for (i, h) in handles.enumerated() {
                if i % 2 == 0 {
                    XCTAssertThrows(TestError.other("even \(i)"), try h.join())
                } else {
                    XCTAssertEqual(try h.join(), i)
                }
            }
        }
    }

    func testJSONRoundTripAcrossYields() throws {
        let order = Order(
            id: 42, customer: "Zoë ✓", items: [
                .init(sku: "A-1", quantity: 2, price: Decimal(string: "19.99")!),
                .init(sku: "B-2", quantity: 1, price: 5),
            ],
            placed: Date(timeIntervalSince1970: 1_700_000_000), notes: nil, tags: ["gift", "express"])
        try Scheduler.run {
            let channel = Channel<Data>(capacity: 1)
            let encoder = Fiber.spawn {
                let json = JSONEncoder()
                json.outputFormatting = [.sortedKeys]
                json.dateEncodingStrategy = .iso8601
                for i in 0..<3 {
                    var copy = order
                    copy.id += i
                    try channel.send(try json.encode(copy))
                    Fiber.yield()
                }
                channel.close()
            }
            let decoder = Fiber.spawn { () throws -> [Order] in
                let json = JSONDecoder()
                json.dateDecodingStrategy = .iso8601
                var out: [Order] = []
                for data in channel {
                    Fiber.yield()
                    out.append(try json.decode(Order.self, from: data))
                }
                return out
            }
            try encoder.join()
            let decoded = try decoder.join()
            XCTAssertEqual(decoded.map(\.id), [42, 43, 44])
            XCTAssertEqual(decoded[0], order)
            let text = String(decoding: try JSONEncoder().encode(order.items[0]), as: UTF8.self)
            XCTAssertTrue(text.contains("\"sku\":\"A-1\""), text)
        }
    }

    func testDateAndStringFormatAcrossYields() throws {
        try Scheduler.run {
            let handle = Fiber.spawn { () throws -> [String] in
                let before = Date()
                try Fiber.sleep(for: .milliseconds(10))
                let after = Date()
                XCTAssertGreaterThanOrEqual(after.timeIntervalSince(before), 0.009)
                let formatted = String(format: "%05d|%.3f|%@|%x|%-4d|", 42, 3.14159, "obj" as NSString, 255, 7)
                Fiber.yield()
                let formatter = ISO8601DateFormatter()
                formatter.timeZone = TimeZone(identifier: "UTC")
                let iso = formatter.string(from: Date(timeIntervalSince1970: 0))
                let components = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date(timeIntervalSince1970: 86_400 * 365))
                return [formatted, iso, "\(components.year!)-\(components.month!)-\(components.day!)"]
            }
            XCTAssertEqual(try handle.join(), ["00042|3.142|obj|ff|7   |", "1970-01-01T00:00:00Z", "1971-1-1"])
        }
    }

    func testStringInterpolationAcrossYields() throws {
        try Scheduler.run {
            let handles = (0..<4).map { i in
                Fiber.spawn { () -> String in
                    var s = ""
                    for j in 0..<5 {
                        s += "[\(i):\(j) \(Double(j) / 2) \(j % 2 == 0 ? "even" : "odd") \([j, j * j])]"
                        Fiber.yield()
                    }
                    return s
                }
            }
            XCTAssertEqual(try handles[2].join(),
                           "[2:0 0.0 even [0, 0]][2:1 0.5 odd [1, 1]][2:2 1.0 even [2, 4]][2:3 1.5 odd [3, 9]][2:4 2.0 even [4, 16]]")
            XCTAssertEqual(try handles.map { try $0.join().count }.count, 4)
        }
    }

    func testDictionaryAndSetMutationAcrossYields() throws {
        try Scheduler.run {
            var counts: [String: Int] = [:]
            var seen = Set<Int>()
            let handles = (0..<5).map { i in
                Fiber.spawn {
                    for j in 0..<100 {
                        counts["key\(j % 10)", default: 0] += 1
                        seen.insert(i * 1_000 + j)
                        if j % 3 == i % 3 { Fiber.yield() }
                    }
                    // A local dictionary that grows across yields (rehashing on a fiber stack).
                    var local: [Int: String] = [:]
                    for k in 0..<500 {
                        local[k] = "\(k)"
                        if k % 50 == 0 { Fiber.yield() }
                    }
                    XCTAssertEqual(local.count, 500)
                    XCTAssertEqual(local[499], "499")
                }
            }
            for h in handles { try h.join() }
            XCTAssertEqual(counts.count, 10)
            XCTAssertTrue(counts.values.allSatisfy { $0 == 50 }, "\(counts)")
            XCTAssertEqual(seen.count, 500)
        }
    }

    func testDeepRecursionThatFits() throws {
        var configuration = Scheduler.Configuration()
        // ASan's redzones more than double each frame: the same depth needs a larger stack.
        if AddressSanitizer.isActive { configuration.stacks.stackSize *= 4 }
        try Scheduler.run(configuration: configuration) {
            let stackSize = Scheduler.current!.stacks.configuration.stackSize
            func deep(_ n: Int) -> FiberHandle<(Int, UInt)> {
                Fiber.spawn { () -> (Int, UInt) in
                    let top = stackAddress()
                    let hash = recursiveHash(n)
                    return (hash, top - deepestFrame.value)
                }
            }
            let a = deep(2_000), b = deep(1_000)  // interleaved by the yields
            let (hashA, usedA) = try a.join()
            let (hashB, usedB) = try b.join()
            XCTAssertEqual(hashA, iterativeHash(2_000))
            XCTAssertEqual(hashB, iterativeHash(1_000))
            print("recursion: 2,000 frames used \(usedA) bytes, 1,000 frames \(usedB) bytes of a \(stackSize)-byte fiber stack")
            XCTAssertGreaterThanOrEqual(usedA, 2_000 * 16, "each level took a frame")
            XCTAssertGreaterThanOrEqual(usedB, 1_000 * 16, "each level took a frame")
            XCTAssertLessThan(Int(usedA), stackSize)
        }
    }

    func testSynchronizationMutexInFibersAndThreads() throws {
        let shared = SharedCounter()
        try Scheduler.run {
            let sendable = UncheckedSendable(shared)
            let threads = (0..<2).map { _ in
                OSThread {
                    for _ in 0..<10_000 { sendable.value.mutex.withLock { $0 += 1 } }
                }
            }
            let fibers = (0..<4).map { _ in
                Fiber.spawn {
                    for k in 0..<2_500 {
                        shared.mutex.withLock { $0 += 1 }  // never held across a yield
                        if k % 100 == 0 { Fiber.yield() }
                    }
                }
            }
            for f in fibers { try f.join() }
            for t in threads { t.join() }
        }
        XCTAssertEqual(shared.mutex.withLock { $0 }, 30_000)
    }

    func testUnsafeTemporaryAllocationAndLargeLocals() throws {
        try Scheduler.run {
            let handle = Fiber.spawn { () -> Int in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 1_024) { buffer in
                    for i in 0..<1_024 { buffer.initializeElement(at: i, to: i) }
                    Fiber.yield()
                    defer { buffer.deinitialize() }
                    return buffer.reduce(0, +)
                }
            }
            XCTAssertEqual(try handle.join(), 1_023 * 1_024 / 2)
        }
    }
}
