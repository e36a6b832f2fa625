// The code in the documentation cannot rot. Every ```swift block of README.md, of Docs/ and of
// the DocC catalogs is a snippet (`Snippets/*.swift`, which `swift build` compiles as programs)
// or a slice of one, or a package manifest that SwiftPM loads; every `@Snippet` directive names a
// snippet and slice that exist; every snippet was built after its last edit (so its code
// compiled); and the snippets that end by themselves run and do what their text says.
import Foundation
import SpindleTestSupport
import XCTest

final class DocumentationCodeTests: XCTestCase {
    /// Each case: a snippet's source, the code DocC shows of it, and its slices.
    func testSnippetsAreReadAsDocCPresentsThem() {
        let cases: [(name: String, source: String, presentation: [String], slices: [String: [String]])] = [
            ("the explanation comment is left out",
             "// What it does.\n// More.\n\nimport A\nprint(1)\n",
             ["import A", "print(1)"], [:]),
            ("hidden lines are left out",
             "import A\n// snippet.hide\nlet secret = 1\n// snippet.show\nprint(2)\n",
             ["import A", "print(2)"], [:]),
            ("a slice ends at snippet.end, its blank edges trimmed",
             "let a = 1\n// snippet.middle\n\nlet b = 2\n\n// snippet.end\nlet c = 3\n",
             ["let a = 1", "", "let b = 2", "", "let c = 3"], ["middle": ["let b = 2"]]),
            ("a slice ends where the next begins, and is dedented on its own",
             "do {\n    // snippet.one\n    f()\n    // snippet.two\n        g()\n    // snippet.end\n}\n",
             ["do {", "    f()", "        g()", "}"], ["one": ["f()"], "two": ["g()"]]),
            ("a slice without an end runs to the end of the file",
             "f()\n// snippet.rest\n    g()\n}\n",
             ["f()", "    g()", "}"], ["rest": ["    g()", "}"]]),
            ("a hidden tail is no slice's",
             "// snippet.shown\nrun()\n// snippet.end\n// snippet.hide\nserve()\n",
             ["run()"], ["shown": ["run()"]]),
            ("a comment after the first code line is code",
             "import A\n// a comment\nf()\n",
             ["import A", "// a comment", "f()"], [:]),
        ]
        for test in cases {
            let snippet = Snippet(source: test.source)
            XCTAssertEqual(snippet.presentation, test.presentation, test.name)
            XCTAssertEqual(snippet.slices, test.slices, test.name)
        }
    }

    func testFencedBlocksAreFoundWithTheirLanguage() {
        let text = "# Title\n\n```swift\nlet a = 1\n```\n\n- item\n\n   ```sh\n   make test\n   ```\n\n```swift\nunclosed"
        let blocks = CodeBlock.all(in: text, file: "example.md")
        XCTAssertEqual(blocks.map(\.language), ["swift", "sh", "swift"])
        XCTAssertEqual(blocks.map(\.lines), [["let a = 1"], ["make test"], ["unclosed"]])
        XCTAssertEqual(blocks.map(\.line), [3, 9, 13])
    }

    /// The core of the rot check: a Swift block that is not exactly a snippet (or a slice of one)
    /// fails, so a block edited in the documentation alone, or a snippet changed alone, is seen.
    func testEverySwiftBlockIsASnippetOrAManifest() throws {
        let snippets = try Repository.snippets()
        XCTAssertFalse(snippets.isEmpty, "no snippets under Snippets/")
        var checked = 0
        for file in try Repository.markdownFiles() {
            for block in CodeBlock.all(in: try Repository.text(of: file), file: file)
            where block.language == "swift" && !block.isManifest {
                checked += 1
                if Self.snippetShowing(block.lines, in: snippets) == nil {
                    XCTFail("\(file):\(block.line): this swift block is no snippet (Snippets/*.swift) and no slice of one; "
                            + "put the code in a snippet, which `swift build` compiles, and copy it here exactly:\n"
                            + block.lines.joined(separator: "\n"))
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 2, "README.md's two examples at least")
    }

    /// A snippet's code with one character changed matches nothing: the check above can fail.
    func testAnAlteredBlockMatchesNoSnippet() throws {
        let snippets = try Repository.snippets()
        let original = try XCTUnwrap(snippets["HelloServer"]).presentation
        XCTAssertEqual(Self.snippetShowing(original, in: snippets), "HelloServer")
        var altered = original
        let line = try XCTUnwrap(altered.firstIndex { $0.contains("Hello, World!") })
        altered[line] = altered[line].replacingOccurrences(of: "Hello, World!", with: "Hello, World?")
        XCTAssertNil(Self.snippetShowing(altered, in: snippets))
        XCTAssertNil(Self.snippetShowing(Array(original.dropLast()) + ["try server.run()"], in: snippets))
    }

    func testEverySnippetDirectiveNamesAnExistingSnippetAndSlice() throws {
        let snippets = try Repository.snippets()
        let directive = try NSRegularExpression(pattern: #"@Snippet\(\s*path:\s*"([^"]*)"\s*(?:,\s*slice:\s*"([^"]*)"\s*)?\)"#)
        var checked = 0
        for file in try Repository.markdownFiles() {
            let text = try Repository.text(of: file)
            for match in directive.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                checked += 1
                let path = String(text[Range(match.range(at: 1), in: text)!])
                let slice = Range(match.range(at: 2), in: text).map { String(text[$0]) }
                let prefix = "\(Repository.packageName)/Snippets/"
                guard path.hasPrefix(prefix), let snippet = snippets[String(path.dropFirst(prefix.count))] else {
                    XCTFail("\(file): @Snippet(path: \"\(path)\") names no file Snippets/\(path.dropFirst(prefix.count)).swift (paths are \"\(prefix)NAME\")")
                    continue
                }
                if let slice, snippet.slices[slice] == nil {
                    XCTFail("\(file): \(path) has no slice \"\(slice)\" (it has: \(snippet.slices.keys.sorted().joined(separator: ", ")))")
                }
            }
        }
        XCTAssertGreaterThan(checked, 0, "the DocC articles show their code with @Snippet")
    }

    /// The build compiled every snippet after its source last changed: a snippet that no longer
    /// compiles leaves an older executable behind (and fails the build before the tests).
    func testEverySnippetWasBuiltAfterItsLastEdit() throws {
        let folder = Repository.root.appendingPathComponent("Snippets")
        for name in try Repository.snippets().keys.sorted() {
            let source = folder.appendingPathComponent(name + ".swift")
            let program = try ProbeProcess.executable(named: name)
            let edited = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: source.path)[.modificationDate] as? Date)
            let built = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: program.path)[.modificationDate] as? Date)
            XCTAssertGreaterThanOrEqual(built, edited, "Snippets/\(name).swift changed after \(program.path) was built: "
                                        + "build with `swift build --build-tests` (does the snippet still compile?)")
        }
    }

    /// The snippets that end by themselves run, and print what the documentation says they do.
    func testTheRunnableSnippetsDoWhatTheirTextSays() throws {
        XCTAssertEqual((1...1_000).reduce(0) { $0 + $1 * $1 }, 333_833_500)
        let cases: [(snippet: String, output: String, promise: String)] = [
            ("FibersOnTheirOwn", "333833500\n", "README.md and the Fibers article promise 1² + … + 1000²"),
            ("TestingWithALiveServer", "passed\n", "a server on port 0 answers a request (Testing article)"),
            ("TestingARouter", "passed\n", "Router.test in memory and live (Testing article)"),
            ("JSONWritableTypes", "same text\n", "the guide's JSONWritable type writes its Encodable conformance's text"),
        ]
        for test in cases {
            let outcome = try ProbeProcess(executable: test.snippet, arguments: []).waitForExit(timeout: .seconds(60))
            XCTAssertTrue(outcome.exited && outcome.status == 0, "\(test.snippet): \(outcome.summary)")
            XCTAssertEqual(outcome.stdout, test.output, "\(test.snippet): \(test.promise)")
        }
    }

    /// Manifest blocks (a package using Spindle) are loaded by SwiftPM itself.
    func testEveryManifestBlockLoads() throws {
        var checked = 0
        for file in try Repository.markdownFiles() {
            for block in CodeBlock.all(in: try Repository.text(of: file), file: file) where block.language == "swift" && block.isManifest {
                checked += 1
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spindle-manifest-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: folder) }
                try (block.lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
                let outcome = try ProbeProcess(executable: "/usr/bin/env", arguments: ["swift", "package", "dump-package", "--package-path", folder.path])
                    .waitForExit(timeout: .seconds(120))
                XCTAssertTrue(outcome.exited && outcome.status == 0, "\(file):\(block.line): SwiftPM cannot load this manifest:\n\(outcome.summary)")
                XCTAssertTrue(outcome.stdout.contains("\"identity\" : \"spindle\""), "\(file):\(block.line): the manifest does not depend on spindle")
            }
        }
        XCTAssertGreaterThan(checked, 0, "README.md shows the manifest of a package that uses Spindle")
    }

    /// The name of the snippet whose code, or one of whose slices, is `lines`; nil when none is.
    static func snippetShowing(_ lines: [String], in snippets: [String: Snippet]) -> String? {
        let wanted = Snippet.normalized(lines)
        for (name, snippet) in snippets.sorted(by: { $0.key < $1.key }) {
            if snippet.presentation == wanted || snippet.slices.values.contains(wanted) { return name }
        }
        return nil
    }
}
