import SpindleFibers

/// Small files `StaticFiles` has read recently, with what their responses need (status,
/// entity tag, the fields), kept per worker (`SchedulerLocal`: no locks) for
/// `Configuration.cacheValidity`. A hit answers without a system call: no open, status, read
/// or close — for a 4 KiB file that is most of the cost of a request.
///
/// An entry is used until it expires, whatever happens to the file meanwhile: a file changed
/// on disk is served as it was for at most `cacheValidity` (then opened, checked inside the root
/// and read again). Only regular files up to `cachedFileSizeLimit` are kept, and at most
/// `cacheSizeLimit` bytes of them per worker; when an entry would pass that, the expired ones
/// go, and if that is not enough, all of them.
package final class StaticFileCache {
    /// An empty cache.
    package init() {}

    /// What picks the file: the checked names, whether the URL ended in `/` (index file), and
    /// whether the request allows the precompressed sibling.
    package struct Key: Hashable {
        let names: [String]
        let namesDirectory: Bool
        let allowsGzip: Bool

        package init(names: [String], namesDirectory: Bool, allowsGzip: Bool) {
            self.names = names
            self.namesDirectory = namesDirectory
            self.allowsGzip = allowsGzip
        }
    }

    /// A file as read, and its response's fields.
    package struct Entry {
        let parts: FileResponseParts
        let bytes: [UInt8]
        let expires: Deadline

        package init(parts: FileResponseParts, bytes: [UInt8], expires: Deadline) {
            self.parts = parts
            self.bytes = bytes
            self.expires = expires
        }
    }

    private var entries: [Key: Entry] = [:]
    private var bytes = 0

    /// The entry for `key` unless it has expired by `now`.
    package func entry(for key: Key, now: Deadline) -> Entry? {
        guard let entry = entries[key] else { return nil }
        guard now < entry.expires else {
            remove(key)
            return nil
        }
        return entry
    }

    /// Keeps `entry` under `key`, making room under `limit` bytes as the type says.
    package func store(_ entry: Entry, for key: Key, limit: Int, now: Deadline) {
        remove(key)
        guard entry.bytes.count <= limit else { return }
        if bytes + entry.bytes.count > limit {
            for (key, old) in entries where !(now < old.expires) { remove(key) }
            if bytes + entry.bytes.count > limit {
                entries.removeAll()
                bytes = 0
            }
        }
        entries[key] = entry
        bytes += entry.bytes.count
    }

    private func remove(_ key: Key) {
        if let old = entries.removeValue(forKey: key) { bytes -= old.bytes.count }
    }

    /// Entries and the bytes they hold (for tests).
    package var usage: (entries: Int, bytes: Int) { (entries.count, bytes) }
}
