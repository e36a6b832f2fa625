#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Running helper processes: this executable in another mode, the Go peer, `strace`.
enum Subprocess {
    /// The path of this executable (`/proc/self/exe`), to re-run it in another mode.
    static var selfPath: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(n > 0, "readlink(/proc/self/exe) failed")
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs `command` through `/bin/sh -c` and returns its standard output, or nil when it could
    /// not start or exited with a non-zero status. Standard error passes through.
    static func output(of command: String) -> String? {
        guard let pipe = popen(command, "r") else { return nil }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, pipe)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        let status = pclose(pipe)
        guard status == 0 else {
            fputsStderr("fiber-bench: `\(command)` failed (status \(status))")
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Single-quotes `word` for `/bin/sh`.
    static func quote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension String {
    /// Plain substring replacement (Foundation-free).
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
