// The directory trees the StaticFiles tests serve, made on disk by each test.
import Foundation
import XCTest

/// A directory tree under the system's temporary directory, removed by `remove()`:
/// `root/` (what is served) and `outside/` beside it (what must never be served).
final class StaticSite {
    let base: URL
    var root: String { base.appendingPathComponent("root").path }
    var outside: String { base.appendingPathComponent("outside").path }

    init() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("spindle-static-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: base.appendingPathComponent("root").path, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base.appendingPathComponent("outside").path, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `relativePath` under the root (directories made as needed).
    func write(_ relativePath: String, _ contents: [UInt8]) throws {
        let url = URL(fileURLWithPath: root).appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents).write(to: url)
    }

    func write(_ relativePath: String, _ text: String) throws { try write(relativePath, Array(text.utf8)) }

    /// A symbolic link at `relativePath` under the root pointing to `target` (as written).
    func link(_ relativePath: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + relativePath, withDestinationPath: target)
    }

    func path(_ relativePath: String) -> String { root + "/" + relativePath }

    /// The modification time of a file, in whole seconds since the epoch.
    func modificationSeconds(_ relativePath: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path(relativePath))
        return Int(try XCTUnwrap(attributes[.modificationDate] as? Date).timeIntervalSince1970.rounded(.down))
    }

    /// The `Last-Modified` value a file should have (formatted independently of Spindle).
    func lastModified(_ relativePath: String) throws -> String {
        Self.httpDate(Date(timeIntervalSince1970: TimeInterval(try modificationSeconds(relativePath))))
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    func remove() { try? FileManager.default.removeItem(at: base) }
}
