// Proof that the request path allocates nothing: parsing a typical plaintext request (and
// decoding a body, and writing the response) 100,000 times makes zero calls to malloc and
// friends. Counted at the C level on this thread by MallocCounter (see its comment for how and
// why not mallinfo2 or mimalloc statistics).
import Dispatch
import HTTPTypes
import SpindleHTTP
import XCTest

private func countAllocations(_ body: () -> Void) -> Int? { MallocCounter.count(body) }

final class Probe { var x = 0 }
// Escaping to globals keeps the optimiser from stack-promoting or deleting the probes.
nonisolated(unsafe) private var keptObject: AnyObject? = nil
nonisolated(unsafe) private var keptString = ""
nonisolated(unsafe) private var keptArray: [Int] = []
nonisolated(unsafe) private var keptPointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil
@inline(never) private func keepPointer(_ k: Int, _ p: UnsafeMutableRawPointer?) { keptPointers![k] = p }
@inline(never) private func freeKeptPointers() { for k in 0..<8 { free(keptPointers![k]) } }

final class AllocationTests: XCTestCase {
    static let plaintext = bytes("""
        GET /plaintext HTTP/1.1\r
        Host: localhost:8080\r
        User-Agent: wrk/4.2.0\r
        Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.8\r
        Accept-Encoding: gzip, deflate\r
        Connection: keep-alive\r
        \r

        """)

    override func setUpWithError() throws {
        if let reason = MallocCounter.unavailableReason { throw XCTSkip(reason) }
    }

    /// The counter must see allocations, or its zeros below would prove nothing.
    func testTheCounterSeesAllocations() throws {
        let swiftObjects = try XCTUnwrap(countAllocations {
            keptObject = Probe()
            keptString = String(repeating: "x", count: 100)
            keptArray = [Int](repeating: 7, count: 100)
        }, "MallocCounter found no malloc slots: this proof cannot run")
        XCTAssertGreaterThanOrEqual(swiftObjects, 3, "a class instance, a String and an Array")
        keptPointers = .allocate(capacity: 8)
        keptPointers!.initialize(repeating: nil, count: 8)
        defer { keptPointers!.deallocate() }
        let cCalls = try XCTUnwrap(countAllocations {
            keepPointer(0, malloc(16))
            keepPointer(1, calloc(2, 8))
            keepPointer(2, realloc(nil, 32))
            var p: UnsafeMutableRawPointer? = nil
            _ = posix_memalign(&p, 64, 64)
            keepPointer(3, p)
            keepPointer(4, aligned_alloc(64, 64))
        })
        freeKeptPointers()
        XCTAssertEqual(cCalls, 5)
        let pointer = try XCTUnwrap(countAllocations { UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8).deallocate() })
        XCTAssertEqual(pointer, 1, "swift_slowAlloc")
        XCTAssertEqual(countAllocations {}, 0)
    }

    /// Runs `body` once to warm up (lazy globals, generic metadata: one-time allocations), then
    /// `iterations` times while counting; fails unless nothing was allocated.
    private func assertNoAllocations(_ what: String, iterations: Int, file: StaticString = #filePath, line: UInt = #line,
                                     _ body: () -> Void) throws {
        body()
        let count = try XCTUnwrap(countAllocations { for _ in 0..<iterations { body() } },
                                  "MallocCounter cannot run here", file: file, line: line)
        XCTAssertEqual(count, 0, "\(what) allocated \(count) times in \(iterations) rounds", file: file, line: line)
    }

    func testParsingThePlaintextRequestDoesNotAllocate() throws {
        var parser = HTTPRequestParser()
        var checksum = 0
        let input = Self.plaintext
        try input.withUnsafeBytes { buffer in
            try assertNoAllocations("parsing", iterations: 100_000) {
                guard case .complete(let head, let consumed) = parser.parseHead(buffer) else { return }
                checksum &+= consumed &+ head.fieldCount &+ (head.keepAlive ? 1 : 0)
                checksum &+= head.firstValue("host")?.count ?? 0
                checksum &+= head.method == .get ? 1 : 0
                checksum &+= head.isHEAD ? 100 : 0
            }
        }
        XCTAssertEqual(checksum, 100_001 * (Self.plaintext.count + 5 + 1 + 14 + 1))
    }

    func testSplitHeadsAndBodiesDoNotAllocate() throws {
        var parser = HTTPRequestParser()
        let input = bytes("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n")
        var total = 0
        try input.withUnsafeBytes { buffer in
            try assertNoAllocations("split parsing and chunked decoding", iterations: 10_000) {
                // The head arrives in two reads; the body is decoded as slices.
                guard case .incomplete = parser.parseHead(UnsafeRawBufferPointer(rebasing: buffer[0..<30])),
                      case .complete(let head, let consumed) = parser.parseHead(buffer) else { return }
                var decoder = HTTPBodyDecoder(framing: head.framing)
                var offset = consumed
                while case .data(let r) = decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...])) {
                    total += r.count
                    offset += r.upperBound
                }
            }
        }
        XCTAssertEqual(total, 5 * 10_001)
    }

    func testWritingTheResponseDoesNotAllocate() throws {
        var writer = HTTPResponseWriter(dateCache: HTTPDateCache(clock: .fixed(unixSeconds: 784_111_777)))
        var buffer = HTTPOutputBuffer(capacity: 512)
        let response = HTTPResponse(status: .ok, headerFields: [.server: "Spindle", .contentType: "text/plain"])
        let body: StaticString = "Hello, World!"
        var written = 0
        try assertNoAllocations("writing a response", iterations: 100_000) {
            buffer.removeAll()
            writer.writeResponse(response, body: UnsafeRawBufferPointer(start: body.utf8Start, count: body.utf8CodeUnitCount),
                                 persistence: .keepAlive, into: &buffer)
            written += buffer.count
        }
        XCTAssertEqual(written, 100_001 * 132)
    }

    func testChunkedResponseDoesNotAllocate() throws {
        var writer = HTTPResponseWriter()  // the system clock: reading it must not allocate either
        var buffer = HTTPOutputBuffer(capacity: 512)
        let response = HTTPResponse(status: .ok)
        let chunk: StaticString = "a chunk of the body"
        try assertNoAllocations("writing a chunked response", iterations: 100_000) {
            buffer.removeAll()
            writer.writeHead(response, framing: .chunked, persistence: .keepAlive, into: &buffer)
            HTTPChunkedEncoder.writeChunk(UnsafeRawBufferPointer(start: chunk.utf8Start, count: chunk.utf8CodeUnitCount), into: &buffer)
            HTTPChunkedEncoder.writeLastChunk(into: &buffer)
        }
    }
}

/// Parser speed, apart from the allocation proofs so that it also runs (as a workout for the
/// parser) under AddressSanitizer, where those are skipped.
final class ParseTimingTests: XCTestCase {
    /// Not an assertion (timings are noisy on a shared 2-core VM): the best of 7 runs of
    /// 100,000 parses, for the record.
    func testParseTiming() {
        let minimal = bytes("GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for input in [minimal, AllocationTests.plaintext] {
            var parser = HTTPRequestParser()
            var best = Double.infinity
            var sink = 0
            input.withUnsafeBytes { buffer in
                for _ in 0..<7 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<100_000 {
                        if case .complete(_, let consumed) = parser.parseHead(buffer) { sink &+= consumed }
                    }
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 100_000)
                }
            }
            XCTAssertEqual(sink, 700_000 * input.count)
            print("parse: \(input.count)-byte request in \(Int(best)) ns (\(Double(Int(best / Double(input.count) * 100)) / 100) ns/byte), best of 7")
        }
    }
}
