import Foundation
import SpindleJSON
import Synchronization
import XCTest

/// `JSONWritable` values written by their own `writeJSON(to:)` give the text their `Encodable`
/// conformance gives: byte for byte the streaming encoder's Codable path (members in the order
/// encoded), and Foundation's `JSONEncoder()` once members are sorted (Foundation on Linux writes
/// them in a dictionary's hash order). Errors carry Foundation's coding paths.
final class JSONWritableTests: XCTestCase {
    /// The text `value`'s `Encodable` conformance makes the streaming encoder write (a generic
    /// over `Encodable` only, so the `JSONWritable` overload cannot be chosen).
    private func codableText<T: Encodable>(_ value: T) throws -> [UInt8] {
        try StreamingJSONEncoder().encode(value)
    }

    private func assertWritesItsCodableText<T: JSONWritable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let written = try StreamingJSONEncoder().encode(value)
            let codable = try codableText(value)
            XCTAssertEqual(String(decoding: written, as: UTF8.self), String(decoding: codable, as: UTF8.self), file: file, line: line)
            let foundation = Array(try JSONEncoder().encode(value))
            XCTAssertEqual(MembersSorted.text(written), MembersSorted.text(foundation), file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    struct Message: JSONWritable {
        let message: String
        func writeJSON(to json: inout JSONWriter) {
            json.writeObject { $0.write("message", message) }
        }
    }

    enum Shape: Encodable {
        case circle(radius: Double)
        case labelled(String, Int)
    }

    /// One member of every kind the writers take, in declaration order.
    struct Everything: JSONWritable {
        var string = "text \"quoted\" / slashed \\ \u{1} \n\t é 😀"
        var int = -42
        var int8 = Int8.min
        var int16 = Int16.max
        var int32 = Int32.min
        var int64 = Int64.min
        var uint = UInt.max
        var uint8 = UInt8.max
        var uint16 = UInt16.max
        var uint32 = UInt32.max
        var uint64 = UInt64.max
        var double = 0.1
        var whole = 1.0
        var negativeZero = -0.0
        var large = 1e20
        var tiny = Double.leastNonzeroMagnitude
        var float: Float = 0.1
        var bool = false
        var present: Int? = 7
        var absent: String? = nil
        var strings = ["a", "", "c/d"]
        var optionals: [Int?] = [1, nil, 3]
        var matrix = [[1.5, 2], [], [3]]
        var nested = Message(message: "inner")
        var messages = [Message(message: "a"), Message(message: "b")]
        var dictionary = ["one": 1, "two": 2, "three": 3]
        var date = Date(timeIntervalSinceReferenceDate: 12.5)
        var uuid = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        var shapes = [Shape.circle(radius: 2), .labelled("x", 1)]

        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeObject { object in
                object.write("string", string)
                object.write("int", int)
                try object.write("int8", int8)
                try object.write("int16", int16)
                try object.write("int32", int32)
                try object.write("int64", int64)
                try object.write("uint", uint)
                try object.write("uint8", uint8)
                try object.write("uint16", uint16)
                try object.write("uint32", uint32)
                try object.write("uint64", uint64)
                try object.write("double", double)
                try object.write("whole", whole)
                try object.write("negativeZero", negativeZero)
                try object.write("large", large)
                try object.write("tiny", tiny)
                try object.write("float", float)
                object.write("bool", bool)
                try object.writeIfPresent("present", present)
                try object.writeIfPresent("absent", absent)
                try object.write("strings", strings)
                try object.write("optionals", optionals)
                try object.write("matrix", matrix)
                try object.write("nested", nested)
                try object.writeArray("messages") { array in
                    for message in messages { try array.write(message) }
                }
                try object.write("dictionary", dictionary)
                try object.writeEncodable("date", date)
                try object.writeEncodable("uuid", uuid)
                try object.writeEncodable("shapes", shapes)
            }
        }
    }

    func testTheHelloMessageAndAStructOfEveryKind() {
        assertWritesItsCodableText(Message(message: "Hello, World!"))
        assertWritesItsCodableText(Everything())
        var other = Everything()
        other.absent = "here"
        other.present = nil
        other.strings = []
        other.dictionary = [:]
        other.float = 3.4028235e38
        assertWritesItsCodableText(other)
    }

    func testTopLevelScalarsArraysAndDictionaries() {
        assertWritesItsCodableText("a/b")
        assertWritesItsCodableText(Int.min)
        assertWritesItsCodableText(UInt64.max)
        assertWritesItsCodableText(true)
        assertWritesItsCodableText(2.5)
        assertWritesItsCodableText(Float(1.1))
        assertWritesItsCodableText(Int?.none)
        assertWritesItsCodableText([[String: [Int?]]]([["a": [1, nil]], [:]]))
        assertWritesItsCodableText([Message]())
        assertWritesItsCodableText([Int128.min, Int128.max, 1 << 100])
        assertWritesItsCodableText(UInt128.max)
    }

    func testRandomStringsAreEscapedAsFoundationEscapesThem() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Unicode.Scalar] = ["a", "/", "\\", "\"", "\u{0}", "\u{1F}", "\u{7F}", "é", "\u{2028}", "😀", " "]
        for _ in 0..<500 {
            let length = Int.random(in: 0...40, using: &generator)
            var string = ""
            for _ in 0..<length { string.unicodeScalars.append(alphabet.randomElement(using: &generator)!) }
            assertWritesItsCodableText(Message(message: string))
            assertWritesItsCodableText([string: [string]])
        }
    }

    /// A value whose own `encode(to:)` cannot be written in order: its text comes from
    /// Foundation, in its place in the document.
    struct OutOfOrder: Encodable {
        enum Keys: String, CodingKey { case a, b }
        func encode(to encoder: any Encoder) throws {
            var first = encoder.container(keyedBy: Keys.self)
            var nested = first.nestedUnkeyedContainer(forKey: .a)
            try first.encode(1, forKey: .b)
            try nested.encode(2)  // back to a container left before
        }
    }

    struct Embedding: JSONWritable {
        var before = 1
        var embedded = OutOfOrder()
        var after = [OutOfOrder()]
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeObject { object in
                object.write("before", before)
                try object.writeEncodable("embedded", embedded)
                try object.writeArray("after") { array in
                    for value in after { try array.writeEncodable(value) }
                }
            }
        }
    }

    func testAnEmbeddedEncodableNotWrittenInOrderFallsBackInPlace() throws {
        let written = String(decoding: try StreamingJSONEncoder().encode(Embedding()), as: UTF8.self)
        XCTAssertEqual(MembersSorted.text(Array(written.utf8)), MembersSorted.text(Array(try JSONEncoder().encode(Embedding()))))
        XCTAssertTrue(written.hasPrefix(#"{"before":1,"embedded":{"#), written)
    }

    struct Nothing: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    struct HoldsNothing: JSONWritable {
        let nothing = Nothing()
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeObject { try $0.writeEncodable("nothing", nothing) }
        }
    }

    struct IsNothing: JSONWritable {
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeEncodable(Nothing())
        }
        func encode(to encoder: any Encoder) throws {}
    }

    func testAnEmbeddedValueThatEncodesNothing() {
        // Nested: an empty object, as Foundation writes it; at the top: refused, as Foundation refuses it.
        assertWritesItsCodableText(HoldsNothing())
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(IsNothing())) { XCTAssertTrue($0 is EncodingError, "\($0)") }
        XCTAssertThrowsError(try JSONEncoder().encode(IsNothing())) { XCTAssertTrue($0 is EncodingError, "\($0)") }
    }

    struct Scored: JSONWritable {
        var score: Double
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeObject { try $0.write("score", score) }
        }
    }

    struct Board: JSONWritable {
        var items: [Scored]
        var extra: [String: Float]
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeObject { object in
                try object.write("items", items)
                try object.write("extra", extra)
            }
        }
    }

    private func path(of error: any Error) -> [String] {
        guard case .invalidValue(_, let context)? = error as? EncodingError else { return ["not an invalidValue: \(error)"] }
        return context.codingPath.map { $0.intValue.map { "#\($0)" } ?? $0.stringValue }
    }

    func testNaNAndInfinityAreRefusedWithFoundationsCodingPath() {
        let values: [Board] = [
            Board(items: [Scored(score: 1), Scored(score: .nan)], extra: [:]),
            Board(items: [], extra: ["x": .infinity]),
        ]
        for value in values {
            var foundationPath: [String] = []
            XCTAssertThrowsError(try JSONEncoder().encode(value)) { foundationPath = self.path(of: $0) }
            XCTAssertThrowsError(try StreamingJSONEncoder().encode(value)) { XCTAssertEqual(self.path(of: $0), foundationPath) }
            XCTAssertFalse(foundationPath.isEmpty)
        }
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(-Double.infinity)) { XCTAssertEqual(self.path(of: $0), []) }
        // An embedded Encodable's path goes on from the member that embeds it.
        struct Holder: JSONWritable {
            func writeJSON(to json: inout JSONWriter) throws {
                try json.writeObject { try $0.writeEncodable("inner", ["a": [Double.nan]]) }
            }
        }
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(Holder())) { XCTAssertEqual(self.path(of: $0), ["inner", "a", "#0"]) }
    }

    struct Refusing: JSONWritable {
        struct Refusal: Error, Equatable {}
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeArray { array in
                array.write(1)
                throw Refusal()
            }
        }
    }

    func testErrorsOfTheValuePropagateAndTheNextDocumentIsWhole() throws {
        XCTAssertThrowsError(try StreamingJSONEncoder().encode([Refusing()])) { XCTAssertEqual($0 as? Refusing.Refusal, Refusing.Refusal()) }
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Message(message: "after")), as: UTF8.self), #"{"message":"after"}"#)
    }

    struct WithUserInfo: Encodable {
        static let key = CodingUserInfoKey(rawValue: "unit")!
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(encoder.userInfo[Self.key] as? String ?? "none")
        }
    }

    struct EmbedsUserInfo: JSONWritable {
        func writeJSON(to json: inout JSONWriter) throws {
            try json.writeArray { try $0.writeEncodable(WithUserInfo()) }
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(WithUserInfo())
        }
    }

    func testUserInfoReachesEmbeddedValues() throws {
        let encoder = StreamingJSONEncoder(userInfo: [WithUserInfo.key: "metres"])
        XCTAssertEqual(String(decoding: try encoder.encode(EmbedsUserInfo()), as: UTF8.self), #"["metres"]"#)
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(EmbedsUserInfo()), as: UTF8.self), #"["none"]"#)
    }

    struct EncodesInside: JSONWritable {
        func writeJSON(to json: inout JSONWriter) throws {
            // Another document encoded while this one is being written (the thread's writer is
            // lent: the inner encode gets its own).
            let inner = String(decoding: try StreamingJSONEncoder().encode(Message(message: "in")), as: UTF8.self)
            try json.writeObject { object in
                object.write("inner", inner)
                try object.writeEncodable("codable", ["k": 1])
            }
        }
        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case inner, codable }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(#"{"message":"in"}"#, forKey: .inner)
            try container.encode(["k": 1], forKey: .codable)
        }
    }

    func testAnEncodeInsideWriteJSON() {
        assertWritesItsCodableText(EncodesInside())
    }

    struct WritesNothing: JSONWritable {
        func writeJSON(to json: inout JSONWriter) {}
        func encode(to encoder: any Encoder) throws {}
    }

    struct WritesTwice: JSONWritable {
        func writeJSON(to json: inout JSONWriter) {
            json.write(1)
            json.writeObject { $0.write("second", 2) }
        }
        func encode(to encoder: any Encoder) throws {}
    }

    private func description(of error: any Error) -> String {
        guard case .invalidValue(_, let context)? = error as? EncodingError else { return "not an invalidValue: \(error)" }
        return context.debugDescription
    }

    /// A `writeJSON` must write exactly one value: none, or a second, makes the encode throw, with
    /// the coding path to the value when it is nested.
    func testWritingNoValueOrTwoThrows() {
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(WritesNothing())) {
            XCTAssertTrue(self.description(of: $0).hasPrefix("WritesNothing.writeJSON(to:) wrote no value"), self.description(of: $0))
            XCTAssertEqual(self.path(of: $0), [])
        }
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(WritesTwice())) {
            XCTAssertTrue(self.description(of: $0).hasPrefix("WritesTwice.writeJSON(to:) wrote more than one value"), self.description(of: $0))
        }
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(["a": [WritesNothing()]])) {
            XCTAssertEqual(self.path(of: $0), ["a", "#0"])
        }
        XCTAssertThrowsError(try StreamingJSONEncoder().encode([Optional(WritesTwice())])) {
            XCTAssertEqual(self.path(of: $0), ["#0"])
        }
    }

    struct CatchesItsErrors: JSONWritable {
        func writeJSON(to json: inout JSONWriter) {
            json.writeObject { object in
                try? object.write("nan", Double.nan)
                object.write("first", 1)
                try? object.write("refusing", Refusing())
                try? object.writeObject("inner") { inner in
                    inner.write("half", 1)
                    throw Refusing.Refusal()
                }
                object.writeArray("list") { list in
                    list.write(1)
                    try? list.write(Double.infinity)
                    try? list.write(Refusing())
                    try? list.writeEncodable(["x": Double.nan])
                    list.write(2)
                }
                try? object.writeEncodable("codable", [Double.nan])
                object.write("last", true)
            }
        }
        func encode(to encoder: any Encoder) throws {}
    }

    struct CatchesAtTheTop: JSONWritable {
        func writeJSON(to json: inout JSONWriter) {
            try? json.writeArray { array in
                array.write(1)
                throw Refusing.Refusal()
            }
            try? json.write(Double.nan)
            json.write("instead")
        }
        func encode(to encoder: any Encoder) throws {}
    }

    /// A write that throws leaves nothing of itself: a caught error cannot leave half a member.
    func testAWriteThatThrowsLeavesNothingBehind() throws {
        let text = String(decoding: try StreamingJSONEncoder().encode(CatchesItsErrors()), as: UTF8.self)
        XCTAssertEqual(text, #"{"first":1,"list":[1,2],"last":true}"#)
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(CatchesAtTheTop()), as: UTF8.self), #""instead""#)
    }

    enum KeptKeys: String, CodingKey { case a, b }
    final class KeptContainer: @unchecked Sendable { var container: KeyedEncodingContainer<KeptKeys>? }

    struct KeepsItsContainer: Encodable {
        let kept: KeptContainer
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: KeptKeys.self)
            try container.encode(1, forKey: .a)
            kept.container = container
        }
    }

    struct WritesThroughAKeptContainer: JSONWritable {
        let kept: KeptContainer
        func writeJSON(to json: inout JSONWriter) throws {
            json.write(1)
            try kept.container?.encode(2, forKey: .b)
        }
        func encode(to encoder: any Encoder) throws {}
    }

    /// A container kept from another document and written to inside `writeJSON`: an
    /// `EncodingError`, not the encoder's internal signal.
    func testWritingThroughAContainerOfAnotherDocumentThrowsAnEncodingError() throws {
        let kept = KeptContainer()
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(KeepsItsContainer(kept: kept)), as: UTF8.self), #"{"a":1}"#)
        XCTAssertThrowsError(try StreamingJSONEncoder().encode(WritesThroughAKeptContainer(kept: kept))) {
            XCTAssertTrue($0 is EncodingError, "\($0)")
        }
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(Message(message: "after")), as: UTF8.self), #"{"message":"after"}"#)
    }

    struct KeepsAndThrows: Encodable {
        struct Boom: Error {}
        let kept: KeptContainer
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: KeptKeys.self)
            try container.encode(1, forKey: .a)
            kept.container = container
            throw Boom()
        }
    }

    struct WritesAfterAKeptOneOfAThrownValue: JSONWritable {
        let kept: KeptContainer
        func writeJSON(to json: inout JSONWriter) {
            json.writeObject { object in
                object.write("x", 1)
                try? kept.container?.encode(2, forKey: .b)  // its document threw with it open
            }
        }
        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case x }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(1, forKey: .x)
        }
    }

    struct EmbedsAThrowingKeeper: JSONWritable {
        let kept: KeptContainer
        func writeJSON(to json: inout JSONWriter) {
            json.writeObject { object in
                try? object.writeEncodable("thrown", KeepsAndThrows(kept: kept))
                object.write("x", 1)
                try? kept.container?.encode(2, forKey: .b)
            }
        }
        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case x }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(1, forKey: .x)
        }
    }

    /// A container kept by a value whose document threw (its frame still open) writes into no
    /// later `JSONWritable` document: after a whole Codable document, and after a value embedded
    /// in the same one.
    func testAContainerLeftOpenByAThrownValueWritesIntoNoLaterDocument() throws {
        let kept = KeptContainer()
        XCTAssertThrowsError(try StreamingJSONEncoder().encodeThroughEncodable(KeepsAndThrows(kept: kept)))
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(WritesAfterAKeptOneOfAThrownValue(kept: kept)), as: UTF8.self),
                       #"{"x":1}"#)
        let other = KeptContainer()
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode(EmbedsAThrowingKeeper(kept: other)), as: UTF8.self),
                       #"{"x":1}"#)
    }

    /// Swaps the writer it is lent with the outer document's (`Swapper`'s closure), then throws.
    struct Thief: JSONWritable {
        struct Gone: Error {}
        let steal: (inout JSONWriter) -> Void
        func writeJSON(to json: inout JSONWriter) throws {
            steal(&json)
            throw Gone()  // the nested encode ends with its writer in the outer document's place
        }
        func encode(to encoder: any Encoder) throws {}
    }

    /// Gives a closure that was passed in non-escaping to a nested encode's `Thief`.
    static func launder(_ steal: (inout JSONWriter) -> Void) {
        withoutActuallyEscaping(steal) { steal in _ = try? StreamingJSONEncoder().encode(Thief(steal: steal)) }
    }

    struct Swapper: JSONWritable {
        func writeJSON(to json: inout JSONWriter) {
            JSONWritableTests.launder { other in swap(&json, &other) }
            json.write("outer")  // through the nested encode's writer, its encode over
        }
        func encode(to encoder: any Encoder) throws {}
    }

    /// A writer carried out of its scope into a nested encode and swapped there with that
    /// encode's writer points into memory that stays alive until the outer encode ends (checked
    /// under the address sanitizer); the swap itself stops the process (`checkNotSwapped`), in
    /// a child process here.
    func testASwappedWriterStaysInLiveMemoryAndStopsTheProcess() throws {
        guard ProcessInfo.processInfo.environment["SPINDLE_JSON_SWAP_CHILD"] == nil else {
            _ = try StreamingJSONEncoder().encode(Swapper())
            print("not stopped")
            return
        }
        // This test alone, again, in a child process of the test binary.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["SpindleJSONTests.JSONWritableTests/testASwappedWriterStaysInLiveMemoryAndStopsTheProcess"]
        var environment = ProcessInfo.processInfo.environment
        environment["SPINDLE_JSON_SWAP_CHILD"] = "1"
        environment["SWIFT_BACKTRACE"] = "enable=no"
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = output
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        XCTAssertNotEqual(child.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("put a writer of another document in the place of the one it was lent"), text)
        XCTAssertFalse(text.contains("not stopped"), text)
        XCTAssertFalse(text.contains("AddressSanitizer"), text)
    }

    /// A document larger than what a thread keeps between encodes, then a small one.
    func testALargeDocumentThenASmallOne() throws {
        let large = (0..<20_000).map { "value \($0)" }
        let bytes = try StreamingJSONEncoder().encode(large)
        XCTAssertGreaterThan(bytes.count, 64 * 1024)
        XCTAssertEqual(try JSONDecoder().decode([String].self, from: Data(bytes)), large)
        XCTAssertEqual(String(decoding: try StreamingJSONEncoder().encode([1]), as: UTF8.self), "[1]")
    }

    func testThreadsWritingAtOnce() {
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<2_000 {
                let message = Message(message: "thread \(thread) message \(index)")
                let text = try? StreamingJSONEncoder().encode(message)
                if text != Array(#"{"message":"thread \#(thread) message \#(index)"}"#.utf8) { failures.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, 0)
    }
}
