// gzip through zlib, checked by an independent reader: Python's gzip and zlib modules decode
// what GzipCompressor wrote (header, deflate data, CRC-32 and length trailer).
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class GzipCompressorTests: XCTestCase {
    /// Decodes a complete gzip stream with Python's gzip module (which checks CRC and length).
    private func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        try runPython("import sys, gzip; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))", input: bytes)
    }

    private func text(_ count: Int) -> [UInt8] {
        let line = Array("{\"id\": 12345, \"name\": \"a line of JSON-ish text\", \"tags\": [\"x\", \"y\"]}\n".utf8)
        return (0..<count).map { line[$0 % line.count] }
    }

    private func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SplitMix(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    func testOneShotRoundTripsAtEverySize() throws {
        // Sizes around the window-sizing steps (each halving of the window) and beyond one window.
        for count in [0, 1, 100, 250, 762, 763, 1024, 1786, 2048, 16_000, 40_000, 300_000] {
            for (kind, input) in [("text", text(count)), ("noise", noise(count, seed: UInt64(count)))] {
                let compressed = try input.withUnsafeBytes { try GzipCompressor.compress($0) }
                XCTAssertEqual(Array(compressed.prefix(3)), [0x1F, 0x8B, 0x08], "gzip magic and deflate method (\(kind) \(count))")
                XCTAssertEqual(try gunzip(compressed), input, "\(kind), \(count) bytes")
                if kind == "text" && count >= 1024 {
                    XCTAssertLessThan(compressed.count, count / 4, "repetitive text compresses (\(count) bytes)")
                }
            }
        }
    }

    func testEveryLevelRoundTrips() throws {
        let input = text(10_000)
        var sizes: [Int] = []
        for level in 0...9 {
            let compressed = try input.withUnsafeBytes { try GzipCompressor.compress($0, level: level) }
            XCTAssertEqual(try gunzip(compressed), input, "level \(level)")
            sizes.append(compressed.count)
        }
        XCTAssertGreaterThan(sizes[0], input.count, "level 0 stores")
        XCTAssertLessThan(sizes[9], sizes[0] / 10)
    }

    /// Each `.sync` flush makes everything written so far decodable: Python's zlib reads each
    /// prefix of the stream that ends at a flush and must give back exactly the input so far.
    func testSyncFlushMakesEveryWriteDecodable() throws {
        let compressor = try GzipCompressor(level: 6, outputChunkCapacity: 64)
        var stream: [UInt8] = []
        var flushEnds: [Int] = []
        var inputEnds: [Int] = []
        var input: [UInt8] = []
        var largestPiece = 0
        let pieces = [text(10), text(5000), noise(3000, seed: 7), [], text(1), text(70_000)]
        for piece in pieces {
            try piece.withUnsafeBytes { bytes in
                try compressor.compress(bytes, flush: .sync) { out in
                    largestPiece = max(largestPiece, out.count)
                    stream.append(contentsOf: out)
                }
            }
            input += piece
            flushEnds.append(stream.count)
            inputEnds.append(input.count)
        }
        try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), flush: .finish) { stream.append(contentsOf: $0) }
        XCTAssertTrue(compressor.isFinished)
        XCTAssertLessThanOrEqual(largestPiece, 64, "output comes in pieces of at most outputChunkCapacity")
        let program = """
        import sys, zlib, gzip
        data = sys.stdin.buffer.read()
        for end in sys.argv[1:]:
            print(len(zlib.decompressobj(31).decompress(data[:int(end)])))
        sys.stdout.buffer.write(gzip.decompress(data))
        """
        let output = try runPython(program, arguments: flushEnds.map(String.init), input: stream)
        var lines = output.split(separator: UInt8(ascii: "\n"), maxSplits: flushEnds.count, omittingEmptySubsequences: false)
        let whole = lines.count > flushEnds.count ? Array(lines.removeLast()) : []
        XCTAssertEqual(lines.map { Int(String(decoding: $0, as: UTF8.self)) }, inputEnds, "decodable bytes at each flush")
        XCTAssertEqual(whole, input, "the finished stream decodes whole")
    }

    func testUnflushedWritesAndOversizedInputsStillRoundTrip() throws {
        let compressor = try GzipCompressor()
        var stream: [UInt8] = []
        let input = text(200_000)
        for start in stride(from: 0, to: input.count, by: 7_777) {
            try input[start..<min(start + 7_777, input.count)].withUnsafeBytes { bytes in
                try compressor.compress(bytes, flush: .none) { stream.append(contentsOf: $0) }
            }
        }
        try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), flush: .finish) { stream.append(contentsOf: $0) }
        XCTAssertEqual(try gunzip(stream), input)
    }

    func testMisuseAndRefusalsThrow() throws {
        let compressor = try GzipCompressor()
        try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), flush: .finish) { _ in }
        XCTAssertThrowsError(try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), flush: .sync) { _ in }) { error in
            XCTAssertTrue("\(error)".contains("finished"), "\(error)")
        }
        for level in [-2, 10, 42] {
            XCTAssertThrowsError(try GzipCompressor(level: level), "level \(level)") { error in
                XCTAssertEqual((error as? CompressionError)?.code, -2, "Z_STREAM_ERROR: \(error)")
                XCTAssertTrue("\(error)".hasPrefix("deflateInit2 failed: Z_STREAM_ERROR (-2)"), "\(error)")
            }
        }
        struct Stop: Error {}
        let failing = try GzipCompressor()
        XCTAssertThrowsError(try text(100).withUnsafeBytes { try failing.compress($0, flush: .sync) { _ in throw Stop() } }) { error in
            XCTAssertTrue(error is Stop, "what emit throws comes out: \(error)")
        }
    }
}
