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
}
