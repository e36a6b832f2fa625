// What the documentation tests read: the repository's Markdown files and their fenced code
// blocks, and the snippets (`Snippets/*.swift`) with the code DocC shows of each: the
// explanation comment at the top left out, `// snippet.hide` … `// snippet.show` regions left
// out, `// snippet.NAME` … `// snippet.end` slices, common indentation removed (as
// swift-docc-plugin's `SnippetParser` does).
import Foundation

/// The repository this test file belongs to, and the documentation in it.
enum Repository {
    /// The checkout's root directory (this file is `Tests/SpindleTests/…`).
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The package name `@Snippet(path:)` directives start with.
    static let packageName = "Spindle"

    /// README.md, every Markdown file under Docs/, and every article of a DocC catalog under
    /// Sources/, as paths relative to the root, sorted.
    static func markdownFiles() throws -> [String] {
        var files = ["README.md"]
        for folder in ["Docs", "Sources"] {
            let base = root.appendingPathComponent(folder)
            guard let walker = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let path as String in walker where path.hasSuffix(".md") {
                if folder == "Sources" && !path.contains(".docc/") { continue }
                files.append(folder + "/" + path)
            }
        }
        return files.sorted()
    }

    /// The snippets, by name (the file name without `.swift`).
    static func snippets() throws -> [String: Snippet] {
        let folder = root.appendingPathComponent("Snippets")
        var snippets: [String: Snippet] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".swift") {
            let name = String(file.dropLast(".swift".count))
            snippets[name] = Snippet(source: try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8))
        }
        return snippets
    }

    /// The text of `path` (relative to the root).
    static func text(of path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }
}

/// A fenced code block of a Markdown file.
struct CodeBlock {
    /// The file, relative to the repository root.
    let file: String
    /// The line of the opening fence (1-based).
    let line: Int
    /// The info string after the opening fence (`swift`, `sh`, …).
    let language: String
    /// The lines between the fences, without the fence's indentation.
    let lines: [String]

    /// Whether the block is a package manifest (it starts with the tools-version comment).
    var isManifest: Bool { lines.first?.hasPrefix("// swift-tools-version:") ?? false }

    /// The fenced blocks of `text` (backtick fences, indented by up to three spaces). An
    /// unclosed fence runs to the end of the text, as CommonMark has it.
    static func all(in text: String, file: String) -> [CodeBlock] {
        var blocks: [CodeBlock] = []
        var open: (line: Int, indent: Int, language: String, lines: [String])? = nil
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indent = line.prefix(while: { $0 == " " }).count
            let rest = line.dropFirst(indent)
            if var current = open {
                if indent <= 3 && rest.hasPrefix("```") && rest.allSatisfy({ $0 == "`" || $0 == " " }) {
                    blocks.append(CodeBlock(file: file, line: current.line, language: current.language, lines: current.lines))
                    open = nil
                } else {
                    current.lines.append(String(line.dropFirst(min(indent, current.indent))))
                    open = current
                }
            } else if indent <= 3 && rest.hasPrefix("```") {
                let info = rest.drop(while: { $0 == "`" }).trimmingCharacters(in: .whitespaces)
                open = (index + 1, indent, String(info.prefix(while: { $0 != " " })), [])
            }
        }
        if let current = open {
            blocks.append(CodeBlock(file: file, line: current.line, language: current.language, lines: current.lines))
        }
        return blocks
    }
}

/// A snippet file as DocC presents it.
struct Snippet {
    /// The code DocC shows for the whole snippet.
    let presentation: [String]
    /// Named slices of it (`// snippet.NAME` … `// snippet.end`).
    let slices: [String: [String]]

    init(source: String) {
        var lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        while let first = lines.first, first.isBlank { lines.removeFirst() }
        // The explanation: the leading comment lines, up to a blank line or code.
        while let first = lines.first, !first.isBlank, Snippet.marker(in: first) == nil,
              first.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
            lines.removeFirst()
        }
        var presentation: [String] = []
        var ranges: [String: Range<Int>] = [:]
        var open: (name: String, start: Int)? = nil
        var visible = true
        func endSlice() {
            if let slice = open, slice.start < presentation.count { ranges[slice.name] = slice.start..<presentation.count }
            open = nil
        }
        for line in lines {
            switch Snippet.marker(in: line) {
            case "hide"?: visible = false
            case "show"?: visible = true
            case "end"?: endSlice()
            case let name?:
                if visible { endSlice(); open = (name, presentation.count) }
            case nil:
                if visible && !(presentation.isEmpty && line.isBlank) { presentation.append(line) }
            }
        }
        endSlice()
        self.presentation = Snippet.normalized(presentation)
        self.slices = ranges.mapValues { Snippet.normalized(Array(presentation[$0])) }
    }

    /// The marker a line holds (`hide`, `show`, `end` or a slice name), or nil.
    static func marker(in line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("//") else { return nil }
        let comment = trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces)
        guard comment.lowercased().hasPrefix("snippet.") else { return nil }
        let name = comment.dropFirst("snippet.".count).prefix(while: { !$0.isWhitespace })
        return name.isEmpty ? nil : String(name)
    }

    /// `lines` without trailing spaces, leading and trailing blank lines, or the indentation
    /// all of its lines share: how a block and a snippet are compared.
    static func normalized(_ lines: [String]) -> [String] {
        var lines = lines.map { String($0.reversed().drop(while: { $0 == " " }).reversed()) }
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        let indent = lines.filter { !$0.isEmpty }.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
        return lines.map { String($0.dropFirst(min(indent, $0.count))) }
    }
}

extension String {
    /// Empty or only whitespace.
    var isBlank: Bool { allSatisfy(\.isWhitespace) }
}
