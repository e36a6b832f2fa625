// The command lines README.md shows for an example app, and a way to run them: the example
// apps' tests run them verbatim (but for the port) against a live server.
import Foundation

/// The `curl` command lines of one section of README.md, and running them with `/bin/sh`.
public enum ReadmeCommands {
    /// README.md at the root of the checkout (this file is Tests/SpindleTestSupport/…).
    public static let readme = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("README.md")

    /// The lines starting with `curl ` inside the fenced ```sh blocks of the section whose
    /// heading line is `heading` (up to the next heading of the same or a higher level).
    /// Throws when the section or its curl lines are missing.
    public static func curlLines(section heading: String) throws -> [String] {
        let lines = try String(contentsOf: readme, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == heading }) else {
            throw TestFailure("README.md has no heading \"\(heading)\"")
        }
        let level = heading.prefix { $0 == "#" }.count
        var commands: [String] = []
        var inShellBlock = false
        for line in lines[(start + 1)...] {
            let hashes = line.prefix { $0 == "#" }.count
            if !inShellBlock && hashes > 0 && hashes <= level && line.dropFirst(hashes).hasPrefix(" ") { break }
            if line.hasPrefix("```") {
                inShellBlock = !inShellBlock && line == "```sh"
                continue
            }
            if inShellBlock && line.hasPrefix("curl ") { commands.append(String(line)) }
        }
        guard !commands.isEmpty else { throw TestFailure("README.md's \"\(heading)\" shows no curl command line") }
        return commands
    }

    /// The address every command line of README.md names; the tests serve on another port.
    public static let documentedAddress = "127.0.0.1:8080"

    /// `command` with README.md's address replaced by `127.0.0.1:port`. Throws when the line
    /// does not name that address (then it would not reach the test's server).
    public static func local(_ command: String, port: Int) throws -> String {
        guard command.contains(documentedAddress) else {
            throw TestFailure("README.md's command line does not name \(documentedAddress): \(command)")
        }
        return command.replacingOccurrences(of: documentedAddress, with: "127.0.0.1:\(port)")
    }

    /// Runs the `curl` lines of the README.md section `heading`, in order, against a server on
    /// `127.0.0.1:port` (see `local(_:port:)`), and returns what each printed. Throws when the
    /// section does not show exactly `count` of them or when one exits with a non-zero status.
    /// Blocks the calling thread (each line up to 30 s).
    public static func runCurlLines(section heading: String, expecting count: Int, port: Int) throws -> [String] {
        let commands = try curlLines(section: heading)
        guard commands.count == count else {
            throw TestFailure("README.md's \"\(heading)\" shows \(commands.count) curl command lines, not \(count): \(commands)")
        }
        return try commands.map { command in
            let (status, output) = try run(local(command, port: port))
            guard status == 0 else { throw TestFailure("\(command) exited \(status); it printed: \(output)") }
            return output
        }
    }

    /// Runs `command` with `/bin/sh -c` under coreutils' `timeout` (killed after
    /// `timeoutSeconds`, exit status 124) and returns its exit status and standard output
    /// (standard error goes to the test's). Blocks the calling thread.
    public static func run(_ command: String, timeoutSeconds: Int = 30) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = [String(timeoutSeconds), "/bin/sh", "-c", command]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: bytes, as: UTF8.self))
    }
}
