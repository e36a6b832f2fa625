// The router's shortcut for paths made only of literal segments (`/plaintext`, `/api/health`):
// one hash of the raw path and one comparison find the trie node the walk would have found,
// without the path check or the walk. Built once, when the router freezes.

extension Router {
    /// The nodes of patterns made only of literal segments, by their path (`/a/b` for the
    /// patterns `/a/b` and `/a/b/`), in an open-addressing table.
    ///
    /// Why a path found here may skip `RoutingPath.check` and `find`: its bytes equal a
    /// registered pattern's, which passed the same check at registration (no dot-segment, no
    /// invalid escape, no empty segment), so the check would say routable; and the walk, which
    /// tries the literal child of each segment first, follows exactly these literal segments and
    /// stops at this node whenever the node answers the path (`answers`), before any parameter
    /// or wildcard branch. A node that does not answer (a pattern registered only with the
    /// trailing slash, reached without it) is left to the walk.
    ///
    /// Unsafe code, fenced here: the table and the path bytes are raw allocations made in
    /// `init` and freed in `deinit`; an entry's `offset..<offset + length` lies inside the byte
    /// allocation (checked where entries are made); the nodes are unretained, and live as long
    /// as the router (see `Node`), which owns this index.
    final class StaticPathIndex {
        /// One slot of the table.
        struct Entry {
            /// The hash of the path (`hash(_:)`).
            var hash: UInt64 = 0
            /// Where the path's bytes start in `bytes`, and how many there are (-1: an empty slot).
            var offset = 0
            var length = -1
            /// The node the path leads to (unretained: it lives as long as the router).
            var node: Unmanaged<Node>? = nil
        }

        private let entries: UnsafeMutablePointer<Entry>
        private let mask: Int
        private let bytes: UnsafeMutableRawPointer

        /// The index of the literal-only nodes under `root` that have routes. Startup only;
        /// allocates a table of at least twice as many slots as such nodes, and their paths.
        init(root: Node) {
            var paths: [([UInt8], Node)] = []
            Self.collect(root, path: [], into: &paths)
            var capacity = 8
            while capacity < paths.count * 2 { capacity *= 2 }
            mask = capacity - 1
            entries = .allocate(capacity: capacity)
            entries.initialize(repeating: Entry(), count: capacity)
            let byteCount = paths.reduce(0) { $0 + $1.0.count }
            bytes = .allocate(byteCount: max(byteCount, 1), alignment: 8)
            var offset = 0
            for (path, node) in paths {
                precondition(offset + path.count <= byteCount)
                path.withUnsafeBytes { source in
                    (bytes + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
                let hash = path.withUnsafeBytes { Self.hash($0) }
                var slot = Int(truncatingIfNeeded: hash) & mask
                while entries[slot].length >= 0 { slot = (slot + 1) & mask }
                entries[slot] = Entry(hash: hash, offset: offset, length: path.count, node: .passUnretained(node))
                offset += path.count
            }
        }

        deinit {
            entries.deinitialize(count: mask + 1)
            entries.deallocate()
            bytes.deallocate()
        }

        /// Every node under `node` reached through literal segments only, with routes of
        /// either kind, with its path (`/` for the root).
        private static func collect(_ node: Node, path: [UInt8], into paths: inout [([UInt8], Node)]) {
            if !node.routes.isEmpty || !node.slashRoutes.isEmpty {
                paths.append((path.isEmpty ? [UInt8(ascii: "/")] : path, node))
            }
            for child in node.literals {
                let child = child.takeUnretainedValue()
                collect(child, path: path + [UInt8(ascii: "/")] + child.segment, into: &paths)
            }
        }

        /// The node for `path` and whether the path ended in a trailing slash (`/a/` looks up
        /// `/a`), when the node answers it; nil otherwise (the trie decides). `//` and `/a//` are
        /// never found (no entry ends in `/` but the root's). Any thread; no allocation, no
        /// reference count. Cost: a multiply per eight bytes of the path, then one comparison
        /// of the same length for each entry probed (usually one).
        @inline(__always)
        func node(for path: UnsafeRawBufferPointer) -> (node: Unmanaged<Node>, trailingSlash: Bool)? {
            var count = path.count
            guard count > 0, let start = path.baseAddress else { return nil }
            let trailingSlash = count > 1 && path[count &- 1] == UInt8(ascii: "/")
            if trailingSlash {
                count &-= 1
                if count == 1 { return nil }  // `//`: an empty segment, not the root
            }
            let key = UnsafeRawBufferPointer(start: start, count: count)
            let hash = Self.hash(key)
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let entry = entries[slot]
                if entry.length < 0 { return nil }
                if entry.hash == hash, entry.length == count, Self.equal(key, bytes + entry.offset), let node = entry.node {
                    let answers = node._withUnsafeGuaranteedRef { (trailingSlash && !$0.slashRoutes.isEmpty) || !$0.routes.isEmpty }
                    return answers ? (node, trailingSlash) : nil
                }
                slot = (slot &+ 1) & mask
            }
        }

        /// A hash of `key`'s bytes and length: eight bytes at a time, the last word loaded to
        /// end at the last byte (overlapping the one before), shorter keys byte by byte.
        @inline(__always)
        private static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
            let count = key.count
            var hash = UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15
            guard let start = key.baseAddress else { return hash }
            if count >= 8 {
                var index = 0
                while index &+ 8 < count {
                    hash = (hash ^ start.loadUnaligned(fromByteOffset: index, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                    index &+= 8
                }
                hash = (hash ^ start.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            } else {
                var word: UInt64 = 0
                var index = 0
                while index < count {
                    word |= UInt64(start.load(fromByteOffset: index, as: UInt8.self)) &<< UInt64(8 &* index)
                    index &+= 1
                }
                hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
            }
            return hash ^ (hash &>> 32)
        }

        /// Whether the `key.count` bytes at `stored` equal `key`'s: eight at a time as in `hash`.
        @inline(__always)
        private static func equal(_ key: UnsafeRawBufferPointer, _ stored: UnsafeRawPointer) -> Bool {
            let count = key.count
            guard let start = key.baseAddress else { return count == 0 }
            if count < 8 {
                var index = 0
                while index < count {
                    if start.load(fromByteOffset: index, as: UInt8.self) != stored.load(fromByteOffset: index, as: UInt8.self) { return false }
                    index &+= 1
                }
                return true
            }
            var index = 0
            while index &+ 8 < count {
                if start.loadUnaligned(fromByteOffset: index, as: UInt64.self) != stored.loadUnaligned(fromByteOffset: index, as: UInt64.self) {
                    return false
                }
                index &+= 8
            }
            return start.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self) == stored.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self)
        }
    }
}
