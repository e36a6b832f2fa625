import SpindleMemory

// Names in a directory: renaming one file over another, removing a name. Both go through the
// worker's backend, like the other file calls (io_uring operations, or the offload pool on
// epoll), so a slow directory update never stalls the worker thread.
extension File {
    /// Renames `path` to `newPath` (each relative to the working directory, or absolute; same
    /// file system). With `replacing` (the default) an existing `newPath` is replaced, in one
    /// step: every reader sees the old file or the new one, never a mix or nothing, and a
    /// response still reading the old one keeps it. Without it, the rename fails with
    /// `EEXIST` (`IOError.errno`) when `newPath` exists, so the caller learns atomically
    /// whether it created the name (`RENAME_NOREPLACE`; file systems without it answer
    /// `EINVAL`). Throws `IOError` naming both paths. Parks the fiber while the kernel updates
    /// the directory (io_uring, Linux 5.11; an offload thread on epoll). Allocates the
    /// operation's description only on failure.
    public static func rename(_ path: String, to newPath: String, replacing: Bool = true) throws {
        try IOBackends.current("File.rename").renameFile(path, to: newPath, replacing: replacing)
    }

    /// Removes the name `path` (relative to the working directory, or absolute; not a
    /// directory): the file is gone once no descriptor has it open. Throws `IOError` naming the
    /// path (`ENOENT` when there is no such name). Parks the fiber like `rename`.
    public static func remove(_ path: String) throws {
        try IOBackends.current("File.remove").removeFile(path)
    }
}
