// One configuration setting as a swift-configuration provider gives it, and its conversion into
// what a `ServerConfiguration` field holds: durations, byte counts, integers, flags, hosts. Every
// conversion checks range and overflow and throws `ServerConfigurationError` naming the key;
// nothing a configuration says can trap.
import Configuration

/// A configuration value that cannot be used: which key, the value as given, and what the key
/// accepts. `ServerConfiguration(config:)` throws it instead of falling back on a default.
public struct ServerConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The key relative to the reader given to `ServerConfiguration(config:)`, e.g.
    /// `spindle.idleTimeout`.
    public let key: String
    /// The value as the provider gave it (text, or the typed value printed).
    public let value: String
    /// What the key accepts, e.g. "a duration: seconds (`2`, `0.5`) or with a unit (`250ms`, `2s`, `1m`)".
    public let expected: String

    /// Creates the error. Cost: none beyond the strings.
    public init(key: String, value: String, expected: String) {
        self.key = key
        self.value = value
        self.expected = expected
    }

    /// The key as an environment variable (`EnvironmentVariablesProvider`): `SPINDLE_IDLE_TIMEOUT`.
    public var environmentVariable: String { ConfigurationKeyNames.environmentVariable(for: key) }

    /// The key as a command-line option (`CommandLineArgumentsProvider`): `--spindle-idle-timeout`.
    public var commandLineOption: String { ConfigurationKeyNames.commandLineOption(for: key) }

    /// `spindle.idleTimeout (SPINDLE_IDLE_TIMEOUT, --spindle-idle-timeout) is "abc": expected …`.
    public var description: String {
        "\(key) (\(environmentVariable), \(commandLineOption)) is \"\(value)\": expected \(expected)"
    }
}

/// How swift-configuration's providers spell a key: the environment-variable and command-line
/// encodings of `EnvironmentVariablesProvider` and `CommandLineArgumentsProvider` (camelCase
/// words split, components joined), for error messages and the documentation.
enum ConfigurationKeyNames {
    /// `spindle.http.maxBodyBytes` → `SPINDLE_HTTP_MAX_BODY_BYTES`.
    static func environmentVariable(for key: String) -> String {
        words(of: key).map { $0.uppercased() }.joined(separator: "_")
    }

    /// `spindle.http.maxBodyBytes` → `--spindle-http-max-body-bytes`.
    static func commandLineOption(for key: String) -> String {
        "--" + words(of: key).map { $0.lowercased() }.joined(separator: "-")
    }

    /// The words of a dotted camelCase key: each component split before an upper-case letter
    /// that follows a lower-case one.
    private static func words(of key: String) -> [String] {
        key.split(separator: ".").flatMap { component -> [String] in
            var words: [String] = []
            var current = ""
            var previousWasLower = false
            for character in component {
                if character.isUppercase && previousWasLower {
                    words.append(current)
                    current = ""
                }
                current.append(character)
                previousWasLower = character.isLowercase
            }
            if !current.isEmpty { words.append(current) }
            return words
        }
    }
}

/// A value as a provider gave it, before it is checked. Environment variables and command-line
/// arguments give text; in-memory and file providers may give typed values.
enum ConfigurationSetting {
    case text(String)
    case integer(Int)
    case number(Double)
    case flag(Bool)
    case list([String])

    /// The value for an error message.
    var shown: String {
        switch self {
        case .text(let text): text
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .flag(let value): String(value)
        case .list(let values): values.joined(separator: ",")
        }
    }
}

/// Reads and checks settings under one scope of a `ConfigReader`; every conversion throws a
/// `ServerConfigurationError` naming the key. Startup only: each read is a provider lookup, and
/// an unset key costs up to five (one per value type), which access reporters see as such.
struct ConfigurationSettings {
    /// The reader, scoped (`spindle`).
    let reader: ConfigReader
    /// The scope, for error messages (`spindle`).
    let scope: String

    /// The setting at `key`, or nil when no provider has it (or has it as empty text: unset, as
    /// an empty `SPINDLE_*` variable always was).
    func setting(_ key: String) -> ConfigurationSetting? {
        let configKey = ConfigKey(key)
        if let text = reader.string(forKey: configKey) {
            return text.allSatisfy(\.isWhitespace) ? nil : .text(text.withoutSurroundingWhitespace)
        }
        if let value = reader.int(forKey: configKey) { return .integer(value) }
        if let value = reader.double(forKey: configKey) { return .number(value) }
        if let value = reader.bool(forKey: configKey) { return .flag(value) }
        if let values = reader.stringArray(forKey: configKey) { return .list(values) }
        return nil
    }

    func invalid(_ key: String, _ setting: ConfigurationSetting, expected: String) -> ServerConfigurationError {
        ServerConfigurationError(key: scope + "." + key, value: setting.shown, expected: expected)
    }

    /// A whole number in `range`, as a plain integer.
    func integer(_ key: String, in range: ClosedRange<Int>) throws(ServerConfigurationError) -> Int? {
        guard let setting = setting(key) else { return nil }
        let expected = "an integer in \(range.lowerBound)...\(range.upperBound)"
        let value: Int? = switch setting {
        case .integer(let value): value
        case .text(let text): Int(text)
        case .number(let number): Int(exactly: number)
        case .flag, .list: nil
        }
        guard let value, range.contains(value) else { throw invalid(key, setting, expected: expected) }
        return value
    }

    /// A count of bytes (or of bytes per second) in `range`: an integer, optionally with a `K`,
    /// `M` or `G` suffix (powers of 1,024), as the `SPINDLE_*` variables have always accepted.
    func byteCount(_ key: String, in range: ClosedRange<Int>) throws(ServerConfigurationError) -> Int? {
        guard let setting = setting(key) else { return nil }
        let expected = "a byte count in \(range.lowerBound)...\(range.upperBound): an integer, optionally with a K, M or G suffix (powers of 1,024)"
        let value: Int? = switch setting {
        case .integer(let value): value
        case .text(let text): Self.parseByteCount(text)
        case .number(let number): Int(exactly: number)
        case .flag, .list: nil
        }
        guard let value, range.contains(value) else { throw invalid(key, setting, expected: expected) }
        return value
    }

    /// A duration from zero to `maximumSeconds`: seconds (`2`, `0.25`), or a number with a unit,
    /// `ms`, `s` or `m` (`250ms`, `1.5s`, `2m`).
    func duration(_ key: String, maximumSeconds: Double = Self.longestDurationSeconds) throws(ServerConfigurationError) -> Duration? {
        guard let setting = setting(key) else { return nil }
        let expected = "a duration from 0 to \(Int(maximumSeconds)) s: seconds (2, 0.25) or a number with a unit, ms, s or m (250ms, 1.5s, 2m)"
        let seconds: Double? = switch setting {
        case .integer(let value): Double(value)
        case .number(let number): number
        case .text(let text): Self.parseSeconds(text)
        case .flag, .list: nil
        }
        guard let seconds, seconds.isFinite, seconds >= 0, seconds <= maximumSeconds else {
            throw invalid(key, setting, expected: expected)
        }
        // At most 10^9 s: at most 10^18 ns, well inside Int64.
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// On or off: `on`/`off`, `true`/`false`, `yes`/`no` (any case), or an integer (0 off, any
    /// other on, as `SPINDLE_PIN_WORKERS` has always read).
    func flag(_ key: String) throws(ServerConfigurationError) -> Bool? {
        guard let setting = setting(key) else { return nil }
        let value: Bool? = switch setting {
        case .flag(let value): value
        case .integer(let value): value != 0
        case .text(let text):
            switch text.lowercased() {
            case "on", "true", "yes": true
            case "off", "false", "no": false
            default: Int(text).map { $0 != 0 }
            }
        case .number, .list: nil
        }
        guard let value else { throw invalid(key, setting, expected: "on or off (also true/false, yes/no, or an integer: 0 off, other on)") }
        return value
    }

    /// A host to listen on: a numeric address or a name, non-empty, without spaces or NUL.
    func host(_ key: String) throws(ServerConfigurationError) -> String? {
        guard let setting = setting(key) else { return nil }
        let expected = "a host: a numeric IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1) or a name (localhost)"
        guard case .text(let text) = setting, !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value == 0 }) else {
            throw invalid(key, setting, expected: expected)
        }
        return text
    }

    /// A non-empty text without control characters (a token).
    func text(_ key: String) throws(ServerConfigurationError) -> String? {
        guard let setting = setting(key) else { return nil }
        guard case .text(let text) = setting, !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw invalid(key, setting, expected: "text without control characters")
        }
        return text
    }

    /// The longest duration a setting may give: 10^9 seconds (about 31 years).
    static let longestDurationSeconds: Double = 1e9

    /// `64K` → 65,536; nil when malformed or when the product overflows.
    static func parseByteCount(_ text: String) -> Int? {
        var digits = Substring(text)
        var scale = 1
        switch digits.last {
        case "K", "k": scale = 1 << 10
        case "M", "m": scale = 1 << 20
        case "G", "g": scale = 1 << 30
        default: break
        }
        if scale != 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigitOrSign), let value = Int(digits), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }

    /// `2`, `0.25`, `250ms`, `1.5s`, `2m` → seconds; nil when malformed. Only plain decimal
    /// numbers: no `inf`, `nan` or hexadecimal floats.
    static func parseSeconds(_ text: String) -> Double? {
        let lowered = text.lowercased()
        var number = Substring(lowered)
        var scale = 1.0
        if number.hasSuffix("ms") {
            number = number.dropLast(2)
            scale = 0.001
        } else if number.hasSuffix("s") {
            number = number.dropLast()
        } else if number.hasSuffix("m") {
            number = number.dropLast()
            scale = 60
        }
        number = number.drop(while: \.isWhitespace)
        while number.last?.isWhitespace == true { number = number.dropLast() }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCIIDigitOrSign || $0 == "." }), let value = Double(number) else { return nil }
        return value * scale
    }
}

extension Character {
    /// `0`–`9`, `+` or `-`.
    fileprivate var isASCIIDigitOrSign: Bool {
        switch self {
        case "0"..."9", "+", "-": true
        default: false
        }
    }
}

extension String {
    /// The string without leading and trailing whitespace.
    var withoutSurroundingWhitespace: String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view = view.dropFirst() }
        while view.last?.isWhitespace == true { view = view.dropLast() }
        return String(view)
    }
}
