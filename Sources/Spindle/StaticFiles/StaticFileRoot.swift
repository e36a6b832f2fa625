import Foundation
import SpindleIO

/// The directory a `StaticFiles` serves, and the one way files under it are opened: by names
/// already checked (`StaticFilePath`), then confirmed inside the root *after* opening, from
/// where the open file really is (`File.resolvedPath`, which follows every symbolic link the
/// open did). Checking the opened descriptor instead of the path leaves no window between a
/// check and the open for a link to be swapped in.
struct StaticFileRoot: Sendable {
    /// The canonical path of the root (`realpath`: absolute, links resolved).
    let path: String
    /// `path` with a trailing `/`: what every path inside the root starts with.
    private let pathWithSlash: String

    /// The root at `path`, canonicalised. Throws `IOError` when it does not exist, and
    /// `StaticFilesRootError` when it is not a directory. Blocks the thread (`realpath`, `stat`).
    init(_ path: String) throws {
        let canonical = try File.canonicalPath(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: canonical, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StaticFilesRootError(path: path)
        }
        self.path = canonical
        pathWithSlash = canonical.hasSuffix("/") ? canonical : canonical + "/"
    }

    /// A file or directory opened under the root. The file closes when this is dropped, or
    /// earlier with `close()`.
    struct Opened {
        let file: File
        let status: File.Status

        /// Closes the file (parks the fiber while the backend closes it). A failure is ignored:
        /// the descriptor is gone either way.
        func close() { try? file.close() }
    }

    /// Opens `names` (decoded, checked segments) under the root: nil when there is nothing
    /// to serve there — missing or unreadable, resolving outside the root (a symbolic link
    /// out of it), through a name starting with a dot unless `allowingDotNames` (also when a
    /// link inside the root leads there), or neither a regular file nor a directory (a FIFO
    /// opens without waiting for a writer, then is refused). Parks the fiber for the open,
    /// `statx` and, when refused, the close. Throws what is a failure of the server rather than
    /// a missing file (`EMFILE`, `EIO`, no `/proc`).
    func open(_ names: [String], allowingDotNames: Bool) throws -> Opened? {
        let filePath = names.isEmpty ? path : pathWithSlash + names.joined(separator: "/")
        let file: File
        do {
            file = try File.open(filePath, options: [.readOnly, .nonBlockingOpen])
        } catch let error as IOError where error.isFileUnavailable {
            return nil
        }
        do {
            guard isInside(try file.resolvedPath(), allowingDotNames: allowingDotNames) else {
                try? file.close()
                return nil
            }
            let status = try file.status()
            guard status.isRegularFile || status.isDirectory else {
                try? file.close()
                return nil
            }
            return Opened(file: file, status: status)
        } catch {
            try? file.close()
            throw error
        }
    }

    /// True when `resolved` (a canonical path) is the root or below it, and, unless
    /// `allowingDotNames`, no name below the root starts with a dot. Compares bytes (String
    /// comparison would equate different names that are canonically equivalent Unicode).
    func isInside(_ resolved: String, allowingDotNames: Bool) -> Bool {
        if resolved.utf8.elementsEqual(path.utf8) { return true }
        guard resolved.utf8.starts(with: pathWithSlash.utf8) else { return false }
        if allowingDotNames { return true }
        let below = resolved.utf8.dropFirst(pathWithSlash.utf8.count)
        return !below.split(separator: UInt8(ascii: "/")).contains { $0.first == UInt8(ascii: ".") }
    }
}

/// The root given to `StaticFiles` is not a directory.
public struct StaticFilesRootError: Error, CustomStringConvertible, Sendable {
    /// The path as given.
    public let path: String
    /// What is wrong.
    public var description: String { "StaticFiles: \(path) is not a directory" }
}
