#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

// Where files are: canonical paths, for code that must keep requests inside a directory.
extension File {
    /// The canonical form of `path` (`realpath`): absolute, symbolic links resolved, no `.` or
    /// `..`. Throws `IOError` when a component is missing or not searchable. Blocks the calling
    /// thread while the kernel walks the path (reads directories when they are not cached):
    /// call it at startup, not from a request's fiber. Allocates the string.
    public static func canonicalPath(_ path: String) throws -> String {
        try FileSyscalls.canonicalPath(path)
    }

    /// The canonical path of this open file as the kernel knows it now: where it was found
    /// when opened, symbolic links resolved, even if the name it was opened by was a link (or
    /// was swapped for one since). A file deleted since has `" (deleted)"` appended; a file
    /// moved since has its new path. Reads `/proc/self/fd/<descriptor>`, so it needs `/proc`
    /// (throws `IOError` without it). Does not park: one `readlink` on the calling thread,
    /// answered from the kernel's caches. Allocates the string.
    public func resolvedPath() throws -> String {
        misusePrecondition(!isClosed, "File.resolvedPath after close()")
        return try FileSyscalls.pathOfDescriptor(descriptor)
    }
}

extension SystemCallError {
    /// True for the errors of an open that mean this process has no file to read at that
    /// path: it is missing (`ENOENT`), a component is not a directory (`ENOTDIR`), a name is too
    /// long (`ENAMETOOLONG`), symbolic links loop (`ELOOP`), or it may not be searched or read
    /// (`EACCES`, `EPERM`). Other errors (`EMFILE`, `EIO`, …) are failures of the server.
    public var isFileUnavailable: Bool {
        errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG || errno == ELOOP || errno == EACCES || errno == EPERM
    }
}
