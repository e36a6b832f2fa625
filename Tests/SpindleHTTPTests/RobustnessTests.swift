// Beyond the table: mutated requests must give the same outcome however they are split (and
// never crash), and no parse may read a byte past the end of its buffer (checked with a guard
// page right after the last byte, which also covers the 8-byte SWAR loads).
import SpindleHTTP
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// xorshift64*: a seeded generator, so a failure reproduces.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

final class RobustnessTests: XCTestCase {
    func testMutatedRequestsAreSplitIndependent() {
        var random = SeededGenerator(state: 0x5EED_1234_ABCD_0001)
        let seeds = conformanceCases.map(\.input).filter { $0.count < 400 }
        let interesting: [UInt8] = [0x0D, 0x0A, 0x20, 0x09, 0x3A, 0x3B, 0x2C, 0x00, 0x7F, 0x80, 0x30, 0x61, 0x46]
        var outcomes: [String: Int] = [:]
        for round in 0..<400 {
            var input = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(random.next() % 3)) {
                let at = Int(random.next() % UInt64(input.count + 1))
                let byte = interesting[Int(random.next() % UInt64(interesting.count))]
                switch random.next() % 3 {
                case 0 where at < input.count: input[at] = byte
                case 1: input.insert(byte, at: at)
                default: if at < input.count { input.remove(at: at) }
                }
            }
            let outcome = Driver.everySplit(input, limits: .default, name: "mutation \(round): \(String(decoding: input, as: UTF8.self).debugDescription)")
            let key: String
            switch outcome.ending {
            case .error(let reason): key = "\(reason)"
            default: key = "\(outcome.ending)"
            }
            outcomes[key, default: 0] += 1
        }
        print("mutations: \(outcomes.sorted { $0.value > $1.value }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }

    /// Runs `body` with `bytes` copied so that the byte after the last one is unmapped.
    private func withGuardPage(_ bytes: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) -> Void) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = (bytes.count + page - 1) / page * page + page
        guard let region = mmap(nil, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              region != MAP_FAILED else { return XCTFail("mmap failed") }
        defer { munmap(region, size + page) }
        XCTAssertEqual(mprotect(region + size, page, PROT_NONE), 0)
        let start = region + size - bytes.count
        bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        body(UnsafeRawBufferPointer(start: start, count: bytes.count))
    }

    func testNoReadBeyondTheBuffer() {
        var checked = 0
        for c in conformanceCases where c.input.count < 600 {
            for n in 1...c.input.count {
                withGuardPage(c.input[..<n]) { buffer in
                    var parser = HTTPRequestParser(limits: c.limits)
                    if case .complete(let head, let consumed) = parser.parseHead(buffer) {
                        // And the body decoder over the rest of this prefix.
                        var decoder = HTTPBodyDecoder(framing: head.framing, limits: c.limits)
                        var offset = consumed
                        while case .data(let r) = decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...])) {
                            offset += r.upperBound
                        }
                    }
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 5000)
    }
}
