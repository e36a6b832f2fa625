// The raw libc calls of `File` that do not go through a backend: a status-flag change right
// after an open, and path resolution. None of them waits for a disk: `fcntl` changes a flag of
// the open file, and the link `/proc/self/fd/N` names the open file's path from the kernel's
// dentry cache. `realpath` does read directories (one `lstat` per component) and is only for
// the calling thread at startup (`File.canonicalPath`).
#if canImport(Glibc)
import Glibc
#endif
import SpindleMemory

enum FileSyscalls {
    /// Clears `O_NONBLOCK` on the open file `fd` (`File.Options.nonBlockingOpen`).
    static func clearNonBlocking(_ fd: Int32) throws(IOError) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0, flags & O_NONBLOCK == 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 { return }
        let code = errno
        misusePrecondition(code != EBADF, "fcntl(\(fd), F_SETFL) failed with EBADF: a Spindle bug (bad descriptor)")
        throw IOError("fcntl(O_NONBLOCK)", errno: code)
    }

    /// `realpath(path)`: absolute, without `.`, `..`, repeated slashes or symbolic links.
    static func canonicalPath(_ path: String) throws(IOError) -> String {
        guard let resolved = realpath(path, nil) else { throw IOError("realpath(\(path))", errno: errno) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The path the open file `fd` has now, from `readlink("/proc/self/fd/<fd>")`: absolute and
    /// canonical (symbolic links resolved when it was opened). A file deleted since it was
    /// opened has `" (deleted)"` appended by the kernel.
    static func pathOfDescriptor(_ fd: Int32) throws(IOError) -> String {
        let link = "/proc/self/fd/\(fd)"
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBufferPointer { readlink(link, $0.baseAddress!, $0.count) }
        guard n >= 0 else { throw IOError("readlink(\(link))", errno: errno) }
        guard n < buffer.count else { throw IOError("readlink(\(link))", errno: ENAMETOOLONG) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
