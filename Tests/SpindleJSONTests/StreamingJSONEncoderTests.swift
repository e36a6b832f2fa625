import Foundation
import SpindleJSON
import XCTest

/// `StreamingJSONEncoder` writes what Foundation's `JSONEncoder()` writes: every test encodes
/// with both and compares the texts byte for byte once each object's members are put in the
/// same order (Foundation on Linux writes them in the hash order of a dictionary, which changes
/// from process to process; the streaming encoder in the order they were encoded, checked on
/// its own), or that both throw.
final class StreamingJSONEncoderTests: XCTestCase {
    private func assertSameAsFoundation<T: Encodable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) {
        let foundation = Result { Array(try JSONEncoder().encode(value)) }
        let streaming = Result { try StreamingJSONEncoder().encode(value) }
        switch (foundation, streaming) {
        case let (.success(expected), .success(written)):
            XCTAssertEqual(MembersSorted.text(written), MembersSorted.text(expected), file: file, line: line)
        case (.failure(let expected), .failure(let thrown)):
            XCTAssertTrue(expected is EncodingError, "\(expected)", file: file, line: line)
            XCTAssertTrue(thrown is EncodingError, "\(thrown)", file: file, line: line)
        default:
            XCTFail("Foundation: \(foundation), streaming: \(streaming)", file: file, line: line)
        }
    }

    struct Message: Codable { var message: String }

    struct Everything: Encodable {
        var string = "text"
        var int = -42
        var double = 2.5
        var float: Float = 0.1
        var bool = true
        var optionalPresent: Int? = 7
        var optionalAbsent: String? = nil
        var array = [1, 2, 3]
        var nested = Message(message: "inner")
        var nestedArray = [Message(message: "a"), Message(message: "b")]
        var dictionary = ["one": 1, "two": 2, "three": 3, "four": 4]
        var intKeyed = [1: "a", 20: "b", 300: "c"]
        var date = Date(timeIntervalSinceReferenceDate: 12.5)
        var data = Data([0, 1, 2, 255, 254])
        var url = URL(string: "https://example.com/a/b?c=d")!
        var decimal = Decimal(string: "12.340")!
        var uuid = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        var empty: [String] = []
        var emptyObject: [String: Int] = [:]
        var optionals: [Int?] = [1, nil, 3]
        var matrix = [[1, 2], [], [3]]
    }

    enum Shape: Codable {
        case circle(radius: Double)
        case rectangle(width: Int, height: Int)
        case labelled(String, Int)
        case point
    }

    enum Colour: String, Codable { case red, green }

    func testMembersComeInTheOrderTheyWereEncoded() throws {
        struct Ordered: Encodable { var zebra = 1, apple = 2, mango = [3], banana = Message(message: "m") }
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Ordered()), as: UTF8.self),
                       #"{"zebra":1,"apple":2,"mango":[3],"banana":{"message":"m"}}"#)
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Message(message: "Hello, World!")), as: UTF8.self),
                       #"{"message":"Hello, World!"}"#)
    }

    func testTheHelloMessageAndAStructOfEveryKind() {
        assertSameAsFoundation(Message(message: "Hello, World!"))
        assertSameAsFoundation(Everything())
        assertSameAsFoundation([Everything(), Everything()])
    }

    func testEnumsWithAssociatedValuesAndRawValues() {
        assertSameAsFoundation([Shape.circle(radius: 1.5), .rectangle(width: 2, height: 3), .labelled("x", 4), .point])
        assertSameAsFoundation([Colour.red, .green])
        assertSameAsFoundation(["favourite": Colour.green])
    }

    func testTopLevelScalarsAndNull() {
        assertSameAsFoundation("top")
        assertSameAsFoundation(12)
        assertSameAsFoundation(false)
        assertSameAsFoundation(Optional<Int>.none)
        assertSameAsFoundation(Optional<Message>.some(Message(message: "m")))
        assertSameAsFoundation(Data())
        assertSameAsFoundation([String]())
    }

    func testIntegersAtTheirLimits() {
        assertSameAsFoundation([Int.min, Int.max, 0, -1, 9, 10, 99, 100, 1_000_000_007])
        assertSameAsFoundation([Int8.min, Int8.max])
        assertSameAsFoundation([Int16.min, Int16.max])
        assertSameAsFoundation([Int32.min, Int32.max])
        assertSameAsFoundation([Int64.min, Int64.max])
        assertSameAsFoundation([UInt.min, UInt.max])
        assertSameAsFoundation([UInt8.min, UInt8.max])
        assertSameAsFoundation([UInt16.max])
        assertSameAsFoundation([UInt32.max])
        assertSameAsFoundation([UInt64.max])
        assertSameAsFoundation([Int128.min, Int128.max, 1 << 100])
        assertSameAsFoundation([UInt128.max])
    }

    func testFloatingPointSpellings() {
        let doubles: [Double] = [0, -0.0, 1, -1, 1.5, 0.1, 1e20, 1e21, 1e-7, 123456789012345680, 1e300, .leastNonzeroMagnitude,
                                 .greatestFiniteMagnitude, 1e16, 1e15, 0.000001, 100, -2.5e-5, 3.141592653589793, 2.0 / 3.0]
        assertSameAsFoundation(doubles)
        for double in doubles { assertSameAsFoundation(double) }
        let floats: [Float] = [0.1, 1e20, 3, 1e-8, 16_777_216, .greatestFiniteMagnitude, -0.0, 1.0 / 3.0]
        assertSameAsFoundation(floats)
        assertSameAsFoundation(Float16(1.5))
        assertSameAsFoundation([Decimal(string: "-0.5")!, Decimal(0), Decimal(string: "123456789.123456789")!])
    }

    func testNaNAndInfinityAreRefusedAtAnyDepth() throws {
        assertSameAsFoundation(Double.nan)
        assertSameAsFoundation(Double.infinity)
        assertSameAsFoundation(["x": -Double.infinity])
        assertSameAsFoundation([Float.nan])
        struct Holder: Encodable { var inner: [String: [Double]] }
        assertSameAsFoundation(Holder(inner: ["k": [1, .nan]]))
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(Holder(inner: ["k": [1, .nan]]))) { error in
            guard case EncodingError.invalidValue(_, let context) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(context.codingPath.map(\.stringValue), ["inner", "k", "Index 1"])
        }
        // A number reached through the generic `encode(_:forKey:)` and one at the top level: the
        // coding path and the value are Foundation's.
        struct Generic<Value: Encodable>: Encodable { var value: Value }
        assertRefusedAsFoundationRefuses(["a": Generic(value: Double.nan)], path: ["a", "value"])
        assertRefusedAsFoundationRefuses([Generic(value: [Generic(value: -Float.infinity)])], path: ["Index 0", "value", "Index 0", "value"])
        assertRefusedAsFoundationRefuses(Float.infinity, path: [])
    }

    /// `value` is refused by both encoders with `EncodingError.invalidValue`, at coding path `path`,
    /// naming the same value.
    private func assertRefusedAsFoundationRefuses<T: Encodable>(_ value: T, path: [String], file: StaticString = #filePath, line: UInt = #line) {
        func refusal(_ encode: () throws -> Any) -> (value: String, path: [String])? {
            do {
                _ = try encode()
            } catch EncodingError.invalidValue(let value, let context) {
                return ("\(value)", context.codingPath.map(\.stringValue))
            } catch {
                XCTFail("\(error)", file: file, line: line)
            }
            return nil
        }
        let foundation = refusal { try JSONEncoder().encode(value) }
        let streaming = refusal { try StreamingJSONEncoder().encode(value) }
        XCTAssertEqual(foundation?.path, path, "Foundation's", file: file, line: line)
        XCTAssertEqual(streaming?.path, path, file: file, line: line)
        XCTAssertEqual(streaming?.value, foundation?.value, file: file, line: line)
    }

    func testEveryByteOfStringsIsEscapedAsFoundationEscapesIt() {
        var ascii = ""
        for byte in 0..<0x80 { ascii.unicodeScalars.append(Unicode.Scalar(UInt8(byte))) }
        assertSameAsFoundation(ascii)
        assertSameAsFoundation(String(ascii.reversed()))
        assertSameAsFoundation("é\u{2028}\u{2029}😀\u{7F}\u{80}\u{9F}\u{FFFF}")
        assertSameAsFoundation("")
        // Escapes at every position of the 8-byte words the scan reads at once.
        for position in 0..<20 {
            for special in ["\"", "\\", "/", "\n", "\u{1}", "\u{1F}", "é", "\u{7F}"] {
                var text = String(repeating: "a", count: 20)
                text.insert(contentsOf: special, at: text.index(text.startIndex, offsetBy: position))
                assertSameAsFoundation(text)
                assertSameAsFoundation([text: text])
            }
        }
        // Keys are escaped as values are.
        assertSameAsFoundation(["a/b\"c\\d\te": 1])
    }

    /// Strings and keys of at most 16 bytes are checked and written a word at a time: every
    /// length up to 17, with a byte that needs an escape (or one next to those that do) at
    /// every position, and bytes past 0x7F.
    func testShortStringsAtEveryLengthAndPosition() {
        let specials = ["\"", "\\", "/", "\n", "\u{0}", "\u{1F}", " ", "!", "#", "\u{7E}", "\u{7F}", "é", "\u{80}", "😀"]
        for length in 0...17 {
            let plain = String(repeating: "k", count: length)
            assertSameAsFoundation(plain)
            assertSameAsFoundation([plain: length])
            for position in 0...length {
                for special in specials {
                    var text = plain
                    text.insert(contentsOf: special, at: text.index(text.startIndex, offsetBy: position))
                    assertSameAsFoundation(text)
                    assertSameAsFoundation([text: position])
                }
            }
        }
        assertSameAsFoundation(String(repeating: "\"", count: 16))
        assertSameAsFoundation(String(repeating: "é", count: 8))
    }

    /// Short keys that differ only in their second word, or only in length (a trailing NUL is a
    /// byte of the key), are different keys: both kept, in order.
    func testShortKeysThatDifferLateAreDifferentKeys() {
        assertSameAsFoundation(Document.object([("abcdefghX", .integer(1)), ("abcdefghY", .integer(2))]))
        assertSameAsFoundation(Document.object([("abcdefgh", .integer(1)), ("abcdefgh\u{0}", .integer(2)), ("abcdefgh\u{0}\u{0}", .integer(3))]))
        assertSameAsFoundation(Document.object([("", .integer(1)), ("\u{0}", .integer(2))]))
        assertSameAsFoundation(Document.object([("abcdefghijklmnop", .integer(1)), ("abcdefghijklmnoq", .integer(2)), ("abcdefghijklmnop", .integer(3))]))
    }

    /// A type that encodes with custom code, in order: several containers and nesting levels.
    struct CustomInOrder: Encodable {
        static let encodings = Counter()
        enum Keys: String, CodingKey { case a, b, c, d, super_ }
        func encode(to encoder: any Encoder) throws {
            Self.encodings.add()
            var outer = encoder.container(keyedBy: Keys.self)
            try outer.encode(1, forKey: .a)
            var list = outer.nestedUnkeyedContainer(forKey: .b)
            try list.encode("x")
            var inner = list.nestedContainer(keyedBy: Keys.self)
            try inner.encode(true, forKey: .c)
            try inner.encodeNil(forKey: .d)
            var deeper = list.nestedUnkeyedContainer()
            try deeper.encode(2.5)
            try list.encode(3)
            XCTAssertEqual(list.count, 4)
            // Asking the same encoder for its keyed container again continues it.
            var again = encoder.container(keyedBy: Keys.self)
            try again.encode("last", forKey: .c)
            var empty = outer.nestedContainer(keyedBy: Keys.self, forKey: .d)
            _ = empty
            empty = outer.nestedContainer(keyedBy: Keys.self, forKey: .super_)
        }
    }

    /// Goes back to a container after writing a sibling: not in order.
    struct CustomOutOfOrder: Encodable {
        static let encodings = Counter()
        enum Keys: String, CodingKey { case first, second, late }
        func encode(to encoder: any Encoder) throws {
            Self.encodings.add()
            var outer = encoder.container(keyedBy: Keys.self)
            var first = outer.nestedContainer(keyedBy: Keys.self, forKey: .first)
            try outer.encode(2, forKey: .second)
            try first.encode(1, forKey: .late)
        }
    }

    class Animal: Encodable {
        var legs = 4
        enum Keys: CodingKey { case legs }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(legs, forKey: .legs)
        }
    }

    /// A subclass encoding its superclass through `superEncoder()`.
    final class Dog: Animal {
        static let encodings = Counter()
        var name = "Rex"
        enum DogKeys: CodingKey { case name }
        override func encode(to encoder: any Encoder) throws {
            Self.encodings.add()
            var container = encoder.container(keyedBy: DogKeys.self)
            try container.encode(name, forKey: .name)
            try super.encode(to: container.superEncoder())
        }
    }

    /// A subclass sharing its superclass's container (no superEncoder): in order.
    final class Cat: Animal {
        var lives = 9
        enum CatKeys: CodingKey { case lives }
        override func encode(to encoder: any Encoder) throws {
            try super.encode(to: encoder)
            var container = encoder.container(keyedBy: CatKeys.self)
            try container.encode(lives, forKey: .lives)
        }
    }

    func testCustomEncodingsInOrderAreWrittenOnce() {
        let before = CustomInOrder.encodings.value
        assertSameAsFoundation(CustomInOrder())
        XCTAssertEqual(CustomInOrder.encodings.value - before, 2, "once by each encoder")
        assertSameAsFoundation([CustomInOrder(), CustomInOrder()])
        assertSameAsFoundation(Cat())
        assertSameAsFoundation(["pets": [Cat(), Cat()]])
    }

    func testEncodingsNotInOrderFallBackToFoundationWithTheSameBytes() {
        let before = CustomOutOfOrder.encodings.value
        assertSameAsFoundation(CustomOutOfOrder())
        // Foundation once, and the streaming encoder twice: its attempt, then Foundation's.
        XCTAssertEqual(CustomOutOfOrder.encodings.value - before, 3)
        assertSameAsFoundation(["wrapped": [CustomOutOfOrder()]])
        let dogs = Dog.encodings.value
        assertSameAsFoundation(Dog())
        XCTAssertEqual(Dog.encodings.value - dogs, 3)
    }

    func testAValueThatEncodesNothing() {
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        struct EmptyArray: Encodable { func encode(to encoder: any Encoder) throws { _ = encoder.unkeyedContainer() } }
        assertSameAsFoundation(Nothing())  // both refuse: a top-level value must encode something
        assertSameAsFoundation([Nothing()])
        assertSameAsFoundation(["k": Nothing()])
        assertSameAsFoundation(EmptyArray())
        assertSameAsFoundation([EmptyArray()])
    }

    func testUserInfoReachesTheValues() throws {
        struct ReadsUserInfo: Encodable {
            static let key = CodingUserInfoKey(rawValue: "greeting")!
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(encoder.userInfo[Self.key] as? String ?? "none")
            }
        }
        let bytes = try StreamingJSONEncoder(userInfo: [ReadsUserInfo.key: "hi"]).encode(ReadsUserInfo())
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), #""hi""#)
    }

    /// A value whose `encode(to:)` encodes another value with a streaming encoder (the writer kept
    /// for the thread is in use: the inner encode gets its own), and the next encode after both.
    func testAnEncodeInsideAnEncode() throws {
        struct Embeds: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.unkeyedContainer()
                try container.encode(1)
                let inner = try StreamingJSONEncoder().encodeThroughEncodable(["inner": [true]])
                try container.encode(String(decoding: inner, as: UTF8.self))
                try container.encode(2)
            }
        }
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Embeds()), as: UTF8.self), #"[1,"{\"inner\":[true]}",2]"#)
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Message(message: "after")), as: UTF8.self), #"{"message":"after"}"#)
    }

    /// A recursive type: the containers of one key type nest, each writing its own object (the
    /// writer hands a kept container box out again only when nothing else holds it).
    func testContainersOfOneKeyTypeNestedInEachOther() {
        struct Tree: Encodable {
            var name: String
            var children: [Tree]
        }
        func tree(_ depth: Int, _ name: String) -> Tree {
            Tree(name: name, children: depth == 0 ? [] : (0..<3).map { tree(depth - 1, "\(name).\($0)") })
        }
        for _ in 0..<3 { assertSameAsFoundation(tree(4, "root")) }
        // The outer object writes again after a nested one of the same key type has finished,
        // in order: each value is encoded once by each encoder (no fallback).
        struct Pair: Encodable {
            static let encodings = Counter()
            enum Keys: String, CodingKey { case first, inner, last }
            var first: Message
            var inner: [Pair]
            var last: String
            func encode(to encoder: any Encoder) throws {
                Self.encodings.add()
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(first, forKey: .first)
                try container.encode(inner, forKey: .inner)
                try container.encode(last, forKey: .last)
            }
        }
        let before = Pair.encodings.value
        assertSameAsFoundation(Pair(first: Message(message: "a"), inner: [Pair(first: Message(message: "b"), inner: [], last: "c")], last: "d"))
        XCTAssertEqual(Pair.encodings.value - before, 4, "each of the two values once by each encoder")
    }

    /// A keyed container some code keeps after its value has been encoded is not handed out again
    /// for a later object: writing through it later abandons (Foundation's encoder writes the
    /// value), instead of writing into whichever object got its box.
    func testAContainerKeptPastItsValueWritesIntoNoLaterObject() throws {
        final class Kept: @unchecked Sendable { var container: KeyedEncodingContainer<Keys>? }
        enum Keys: String, CodingKey { case message, other }
        struct Keeps: Encodable {
            let kept: Kept
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode("kept", forKey: .message)
                kept.container = container
            }
        }
        struct WritesThroughTheKeptOne: Encodable {
            let kept: Kept
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try? kept.container?.encode("stale", forKey: .other)
                try container.encode("fresh", forKey: .message)
            }
        }
        let kept = Kept()
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Keeps(kept: kept)), as: UTF8.self), #"{"message":"kept"}"#)
        for _ in 0..<2 {
            XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(WritesThroughTheKeptOne(kept: kept)), as: UTF8.self), #"{"message":"fresh"}"#)
        }
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Message(message: "after")), as: UTF8.self), #"{"message":"after"}"#)
    }

    /// More key types than a writer keeps container boxes for, nested and in a row.
    func testMoreKeyTypesThanBoxesKept() {
        struct K0: Encodable { var a = 0 }; struct K1: Encodable { var b = K0() }; struct K2: Encodable { var c = K1() }
        struct K3: Encodable { var d = K2() }; struct K4: Encodable { var e = K3() }; struct K5: Encodable { var f = K4() }
        struct K6: Encodable { var g = K5() }; struct K7: Encodable { var h = K6() }
        struct Wide: Encodable {
            var k0 = K0(), k1 = K1(), k2 = K2(), k3 = K3(), k4 = K4(), k5 = K5(), k6 = K6(), k7 = K7()
            var dictionaries = (0..<40).map { ["key \($0)": $0] }
            var shapes: [Shape] = [.circle(radius: 1), .rectangle(width: 2, height: 3), .labelled("x", 4), .point]
        }
        for _ in 0..<3 { assertSameAsFoundation([Wide(), Wide()]) }
    }

    /// Threads encoding at once each use their own writer.
    func testThreadsEncodingAtOnce() {
        let documents = (0..<8).map { thread in (0..<200).map { Message(message: "thread \(thread) document \($0)") } }
        let mismatches = Counter()
        DispatchQueue.concurrentPerform(iterations: documents.count) { thread in
            for document in documents[thread] {
                let text = (try? StreamingJSONEncoder().encode(document)).map { String(decoding: $0, as: UTF8.self) }
                if text != #"{"message":""# + document.message + #""}"# { mismatches.add() }
            }
        }
        XCTAssertEqual(mismatches.value, 0)
    }

    /// The texts the encoder hands out are values: the array a thread's next document of the
    /// same length is written into (`JSONStreamWriter.takeText`) is never one a caller still
    /// holds, or one of its copies. Documents of one length, kept and copied, then lengths
    /// changing back and forth; each text read again after all of them were written.
    func testTextsOfOneLengthHandedOutAgainAreValues() throws {
        let encoder = StreamingJSONEncoder()
        var kept: [(text: [UInt8], expected: String)] = []
        for round in 0..<3 {
            for digit in 0..<10 {
                let text = try encoder.encodeThroughEncodable(["n": digit])
                kept.append((text, #"{"n":\#(digit)}"#))
                let copy = text
                kept.append((copy, #"{"n":\#(digit)}"#))
                if round == 1 { _ = try encoder.encodeThroughEncodable(["n": 10 + digit]) }  // another length in between
            }
            // Written and let go, as a response's body is: the next one of its length reuses it.
            for digit in 0..<10 {
                XCTAssertEqual(String(decoding: try encoder.encodeThroughEncodable(["m": digit]), as: UTF8.self), #"{"m":\#(digit)}"#)
            }
        }
        var mutated = try encoder.encodeThroughEncodable(["n": 7])
        mutated[5] = UInt8(ascii: "8")
        XCTAssertEqual(String(decoding: try encoder.encodeThroughEncodable(["n": 6]), as: UTF8.self), #"{"n":6}"#)
        XCTAssertEqual(String(decoding: mutated, as: UTF8.self), #"{"n":8}"#)
        for (text, expected) in kept { XCTAssertEqual(String(decoding: text, as: UTF8.self), expected) }
    }

    /// A document larger than what a thread keeps between encodes, then a small one.
    func testALargeDocumentThenASmallOne() throws {
        let large = (0..<20_000).map { "value \($0)" }
        let bytes = try StreamingJSONEncoder().encodeThroughEncodable(large)
        XCTAssertGreaterThan(bytes.count, 64 * 1024)
        XCTAssertEqual(try JSONDecoder().decode([String].self, from: Data(bytes)), large)
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encodeThroughEncodable([1]), as: UTF8.self), "[1]")
    }

    func testErrorsOfTheValuePropagate() {
        struct Failing: Encodable {
            struct Boom: Error {}
            func encode(to encoder: any Encoder) throws { throw Boom() }
        }
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(["k": Failing()])) { XCTAssertTrue($0 is Failing.Boom) }
    }

    /// Code that catches the error of one member (a NaN, or a value that throws halfway through)
    /// and goes on: the text is Foundation's, which leaves that member out — not the member's key
    /// with nothing after it.
    func testACaughtErrorOfAMemberLeavesItOutAsFoundationDoes() throws {
        struct HalfWay: Encodable {
            struct Boom: Error {}
            enum Keys: String, CodingKey { case x }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(1, forKey: .x)
                throw Boom()
            }
        }
        /// A value that catches its own single value's failure (Foundation then writes no value).
        struct SingleHalfWay: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try? container.encode(HalfWay())
            }
        }
        /// Catches one kind of failure, in an object or in an array (the last two: through the
        /// generic `encode(_:forKey:)`, and in a member's single-value container).
        enum Failure: CaseIterable { case nanMember, halfWayMember, infiniteElement, halfWayElement, genericNaNMember, singleValue }
        func put<T: Encodable>(_ value: T, in container: inout KeyedEncodingContainer<Catches.Keys>, _ key: Catches.Keys) {
            try? container.encode(value, forKey: key)  // T is Double here: the generic path
        }
        struct Catches: Encodable {
            let failure: Failure
            enum Keys: String, CodingKey { case a, b, d, e }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(1, forKey: .a)
                switch failure {
                case .nanMember: try? container.encode(Double.nan, forKey: .b)
                case .halfWayMember: try? container.encode(HalfWay(), forKey: .b)
                case .genericNaNMember: put(Double.nan, in: &container, .b)
                case .singleValue: try container.encode(SingleHalfWay(), forKey: .b)
                case .infiniteElement, .halfWayElement: break
                }
                var list = container.nestedUnkeyedContainer(forKey: .d)
                try list.encode(1)
                switch failure {
                case .infiniteElement: try? list.encode(Float.infinity)
                case .halfWayElement: try? list.encode(HalfWay())
                case .nanMember, .halfWayMember, .genericNaNMember, .singleValue: break
                }
                try list.encode(2)
                try container.encode("last", forKey: .e)
            }
        }
        for failure in Failure.allCases {
            // Members sorted: Foundation (which wrote it) puts them in a dictionary's order.
            let text = MembersSorted.text(try StreamingJSONEncoder().encode(Catches(failure: failure)))
            if failure != .singleValue { XCTAssertEqual(text, #"{"a":1,"d":[1,2],"e":"last"}"#, "\(failure)") }
            assertSameAsFoundation(Catches(failure: failure))
        }
    }

    /// A JSON document of any shape, with keys in a fixed order.
    indirect enum Document: Encodable {
        case object([(String, Document)])
        case array([Document])
        case string(String)
        case integer(Int)
        case number(Double)
        case boolean(Bool)
        case null

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { return nil }
        }

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .object(let members):
                var container = encoder.container(keyedBy: Key.self)
                for (key, value) in members { try container.encode(value, forKey: Key(stringValue: key)) }
            case .array(let elements):
                var container = encoder.unkeyedContainer()
                for element in elements { try container.encode(element) }
            case .string(let text):
                var container = encoder.singleValueContainer()
                try container.encode(text)
            case .integer(let value):
                var container = encoder.singleValueContainer()
                try container.encode(value)
            case .number(let value):
                var container = encoder.singleValueContainer()
                try container.encode(value)
            case .boolean(let value):
                var container = encoder.singleValueContainer()
                try container.encode(value)
            case .null:
                var container = encoder.singleValueContainer()
                try container.encodeNil()
            }
        }
    }

    /// Foundation keeps the last value of a key written twice to one object; so does the
    /// streaming encoder (it hands such a value to Foundation), for small and large objects.
    func testAKeyWrittenTwiceKeepsTheLastValue() {
        assertSameAsFoundation(Document.object([("a", .integer(1)), ("b", .integer(2)), ("a", .integer(3))]))
        let many = (0..<100).map { ("key\($0)", Document.integer($0)) }
        assertSameAsFoundation(Document.object(many))
        assertSameAsFoundation(Document.object(many + [("key7", .string("again"))]))
        assertSameAsFoundation(Document.array([.object(many), .object(many + [("key99", .null)]), .object([("x", .object(many))])]))
        // The same key in sibling and nested objects is no repetition.
        assertSameAsFoundation(Document.object([("a", .object([("a", .object([("a", .null)]))])), ("b", .object([("a", .null)]))]))
    }

    func testTwoThousandRandomDocuments() {
        var generator = SplitMix(seed: 0x5EED)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1B}", "é", "😀", "\u{7F}"]
        func text() -> String { String((0..<Int(generator.next() % 24)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }) }
        func document(depth: Int) -> Document {
            switch generator.next() % (depth > 4 ? 5 : 7) {
            case 0: return .string(text())
            case 1: return .integer(Int(truncatingIfNeeded: generator.next()) >> Int(generator.next() % 64))
            case 2: return .number(Double(bitPattern: generator.next()).isFinite ? Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF) : 0.5)
            case 3: return .boolean(generator.next() % 2 == 0)
            case 4: return .null
            case 5: return .array((0..<Int(generator.next() % 5)).map { _ in document(depth: depth + 1) })
            default: return .object((0..<Int(generator.next() % 5)).map { _ in (text(), document(depth: depth + 1)) })
            }
        }
        for _ in 0..<2_000 { assertSameAsFoundation(document(depth: 0)) }
    }
}

extension StreamingJSONEncoder {
    /// `encode` through `Encodable`, also for a value whose type is `JSONWritable` too (the
    /// standard library's strings, numbers and collections are): the path these tests are about.
    func encodeThroughEncodable<T: Encodable>(_ value: T) throws -> [UInt8] { try encode(value) }
}

/// A JSON text with each object's members sorted by their key's bytes, every other byte as it
/// was (the scalars' spelling is what the comparison is about).
enum MembersSorted {
    static func text(_ bytes: [UInt8]) -> String {
        var index = 0
        let sorted = value(bytes, &index)
        precondition(index == bytes.count, "trailing bytes after the JSON value")
        return String(decoding: sorted, as: UTF8.self)
    }

    private static func value(_ bytes: [UInt8], _ index: inout Int) -> [UInt8] {
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [([UInt8], [UInt8])] = []
            while bytes[index] != UInt8(ascii: "}") {
                if bytes[index] == UInt8(ascii: ",") { index += 1 }
                let key = string(bytes, &index)
                precondition(bytes[index] == UInt8(ascii: ":"))
                index += 1
                members.append((key, value(bytes, &index)))
            }
            index += 1
            let body = members.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map { $0.0 + [UInt8(ascii: ":")] + $0.1 }
            return [UInt8(ascii: "{")] + Array(body.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "}")]
        case UInt8(ascii: "["):
            index += 1
            var elements: [[UInt8]] = []
            while bytes[index] != UInt8(ascii: "]") {
                if bytes[index] == UInt8(ascii: ",") { index += 1 }
                elements.append(value(bytes, &index))
            }
            index += 1
            return [UInt8(ascii: "[")] + Array(elements.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")]
        case UInt8(ascii: "\""):
            return string(bytes, &index)
        default:
            let start = index
            while index < bytes.count, !",}]".utf8.contains(bytes[index]) { index += 1 }
            return Array(bytes[start..<index])
        }
    }

    private static func string(_ bytes: [UInt8], _ index: inout Int) -> [UInt8] {
        let start = index
        index += 1
        while bytes[index] != UInt8(ascii: "\"") { index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1 }
        index += 1
        return Array(bytes[start..<index])
    }
}

/// A counter the test types bump from `encode(to:)`.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add() { lock.withLock { count += 1 } }
}

/// A small deterministic generator, so that a failing document can be found again.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
