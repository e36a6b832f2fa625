// The fuzzers' seed corpus (Fuzz/corpus/<target>/) comes from the tables the tests run: the
// request conformance cases, the response cases, their chunked bodies, and a few seeds per
// target for percent decoding, the router and WebSocket frames. This test checks that every
// seed is committed with these bytes; `make fuzz-corpus` (SPINDLE_FUZZ_CORPUS_WRITE=1) writes
// them. See Docs/fuzzing.md.
import Foundation
import SpindleHTTP
import XCTest

final class FuzzCorpusTests: XCTestCase {
    static let corpusDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    /// Seeds per fuzz target directory: (file name, bytes).
    static var seeds: [String: [(String, [UInt8])]] {
        var seeds: [String: [(String, [UInt8])]] = [:]
        seeds["request-parser"] = conformanceCases.map { (fileName($0.name), $0.input) }
        seeds["response-parser"] = responseCases.map { (fileName($0.name), $0.input) }
        // The chunked target reads two bytes choosing the split and the limits, then the body.
        seeds["chunked-decoder"] = conformanceCases.compactMap { c in
            guard let body = bodyAfterChunkedHead(c.input) else { return nil }
            return (fileName(c.name), [UInt8(body.count / 2 & 0xFE), 0] + body)
        }
        let queries = acceptedCases.compactMap { c -> [UInt8]? in
            guard let mark = c.input.firstIndex(of: UInt8(ascii: "?")) else { return nil }
            let end = c.input[mark...].firstIndex(of: UInt8(ascii: " ")) ?? c.input.endIndex
            return Array(c.input[(mark + 1)..<end])
        }
        let percentSeeds = ["a=1&b=%20x+y", "name=caf%C3%A9&name=2", "%zz", "%C3", "%ff%fe", "a+b%2Bc%26d=e%3Df",
                            "&&=&a", "k=v;w", "%41%42%43"].map { Array($0.utf8) } + queries
        seeds["percent-decoding"] = percentSeeds.enumerated().map { ("seed-\($0.offset)", $0.element) }
        // The router target: the first byte picks the method (0: GET, 1: HEAD, 2: POST, …).
        let paths = ["/", "/admin", "/users", "/users/42", "/users/7/posts", "/users/7/posts/9", "/users/me/posts",
                     "/files/a/b/c.txt", "/files/x/raw", "/docs/", "/docs", "/both/", "/a;b", "/c++", "/caf%C3%A9",
                     "/users/%2e%2e", "/users/%FF", "/x/deep/y/z", "/users/42/"]
        seeds["router"] = paths.enumerated().flatMap { index, path in
            [UInt8(0), 1, 2, 4].map { method in ("path-\(index)-method-\(method)", [method] + Array(path.utf8)) }
        }
        seeds["websocket-frame"] = webSocketSeeds
        return seeds
    }

    /// Masked client frames: text, binary with 16- and 64-bit lengths, ping, close, a fragment.
    static var webSocketSeeds: [(String, [UInt8])] {
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        func frame(_ first: UInt8, _ payload: [UInt8], lengthBytes: [UInt8]) -> [UInt8] {
            [first] + lengthBytes + key + payload.enumerated().map { $0.element ^ key[$0.offset & 3] }
        }
        let hello = Array("Hello".utf8)
        let medium = [UInt8](repeating: 0x61, count: 200)
        return [
            ("text-hello", frame(0x81, hello, lengthBytes: [0x80 | 5])),
            ("text-utf8", frame(0x81, Array("café €".utf8), lengthBytes: [0x80 | 9])),
            ("binary-16bit-length", frame(0x82, medium, lengthBytes: [0x80 | 126, 0, 200])),
            ("binary-64bit-length", [0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0] + key),
            ("ping", frame(0x89, hello, lengthBytes: [0x80 | 5])),
            ("close-normal", frame(0x88, [0x03, 0xE8], lengthBytes: [0x80 | 2])),
            ("text-fragment", frame(0x01, hello, lengthBytes: [0x80 | 5])),
            ("continuation", frame(0x80, hello, lengthBytes: [0x80 | 5])),
        ]
    }

    /// The bytes after the head of a request that declares `Transfer-Encoding: chunked`.
    static func bodyAfterChunkedHead(_ input: [UInt8]) -> [UInt8]? {
        guard input.count > 4, String(decoding: input, as: UTF8.self).lowercased().contains("transfer-encoding: chunked") else { return nil }
        for i in 0...(input.count - 4) where input[i..<(i + 4)].elementsEqual([13, 10, 13, 10]) {
            return Array(input[(i + 4)...])
        }
        return nil
    }

    static func fileName(_ caseName: String) -> String {
        let mapped = caseName.lowercased().unicodeScalars.map { scalar -> Character in
            CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII ? Character(scalar) : "-"
        }
        return String(mapped)
    }

    func testEverySeedIsCommittedWithTheBytesOfItsCase() throws {
        let write = ProcessInfo.processInfo.environment["SPINDLE_FUZZ_CORPUS_WRITE"] == "1"
        var checked = 0
        for (target, targetSeeds) in Self.seeds {
            XCTAssertEqual(Set(targetSeeds.map(\.0)).count, targetSeeds.count, "\(target): two seeds with one file name")
            XCTAssertFalse(targetSeeds.isEmpty, "\(target): no seeds")
            let directory = Self.corpusDirectory.appendingPathComponent(target)
            if write { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            for (name, bytes) in targetSeeds {
                let file = directory.appendingPathComponent(name)
                if write { try Data(bytes).write(to: file) }
                let committed = FileManager.default.contents(atPath: file.path).map { Array($0) }
                XCTAssertEqual(committed, bytes, "Fuzz/corpus/\(target)/\(name) is missing or stale: run `make fuzz-corpus`")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, conformanceCases.count)
    }
}
