// Spindle's tunables: `Environment` reads `SPINDLE_*` variables (integers with K/M/G suffixes, on/off
// flags) and `MemoryOptions` holds the process-wide memory switches. Every tunable is listed in
// Docs/memory.md ("Tunables").
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads Spindle's tunables from `SPINDLE_*` environment variables.
///
/// Every tunable has a documented default in code (see `Docs/memory.md` for the table); the
/// environment overrides it so operators can tune a binary without rebuilding.
public enum Environment {
    /// The integer value of `name`, accepting `K`/`M`/`G` suffixes (powers of 1024), or nil when unset.
    /// A set but malformed value stops the process with a message naming the variable:
    /// silently ignoring a typo in a limit is worse than failing at startup.
    public static func integer(_ name: String) -> Int? {
        guard let raw = getenv(name) else { return nil }
        let text = String(cString: raw).trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        var digits = text
        var scale = 1
        switch text.last?.uppercased() {
        case "K": scale = 1 << 10; digits = digits.dropLast()
        case "M": scale = 1 << 20; digits = digits.dropLast()
        case "G": scale = 1 << 30; digits = digits.dropLast()
        default: break
        }
        guard let value = Int(digits), value >= 0 else {
            fatalError("\(name)=\(text) is not a non-negative integer (suffixes K, M, G allowed)")
        }
        return value * scale
    }

    /// The trimmed value of `name`, or nil when unset or empty.
    public static func string(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let text = String(cString: raw).trimmingWhitespace()
        return text.isEmpty ? nil : String(text)
    }

    /// The on/off value of `name` (`on`/`off`, `1`/`0`, `true`/`false`, `yes`/`no`, any case), or
    /// nil when unset or empty. Any other value stops the process with a message naming the variable.
    public static func flag(_ name: String) -> Bool? {
        guard let raw = getenv(name) else { return nil }
        let text = String(cString: raw).trimmingWhitespace()
        switch text.lowercased() {
        case "": return nil
        case "on", "1", "true", "yes": return true
        case "off", "0", "false", "no": return false
        default: fatalError("\(name)=\(text) is not on or off (also accepted: 1/0, true/false, yes/no)")
        }
    }
}

/// Process-wide memory switches, each read once from the environment at first use.
public enum MemoryOptions {
    /// Whether object pools and request arenas recycle memory (default on). `SPINDLE_POOLS=off`
    /// turns both into plain heap allocation, for comparing against the allocator alone:
    /// `ObjectPool` keeps nothing (every `take()` makes a new object, `giveBack` drops it) and
    /// `RequestArena` serves every allocation with `malloc` and frees them all at `reset()`.
    /// Pools and arenas made with an explicit `pooling:` argument ignore it.
    public static let pooling: Bool = Environment.flag("SPINDLE_POOLS") ?? true
}
