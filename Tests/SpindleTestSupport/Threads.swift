// The process's threads by name, from /proc/self/task: for checks that a component's threads
// end when it is shut down.
import Foundation

/// The names (`comm`, at most 15 bytes) of the process's threads now, one per thread, from
/// /proc/self/task/*/comm. A thread that ends while being read is left out.
public func threadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { task in
        guard let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8) else { return nil }
        return name.trimmingCharacters(in: .newlines)
    }
}
