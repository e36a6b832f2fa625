// ServerConfiguration(config:) over swift-configuration providers: the defaults when nothing is
// set, every key through environment variables (today's SPINDLE_* names), typed values from an
// in-memory provider, command-line arguments and their precedence, and a table of malformed and
// out-of-range values, each of which must throw naming its key (never a silent default).
import Configuration
import Foundation
import Spindle
import SpindleHTTP
import XCTest

final class ServerConfigurationTests: XCTestCase {
    private func configuration(environment: [String: String]) throws -> ServerConfiguration {
        try ServerConfiguration(config: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)))
    }

    private func configuration(values: [AbsoluteConfigKey: ConfigContent]) throws -> ServerConfiguration {
        let provider = InMemoryProvider(values: values.mapValues { ConfigValue($0, isSecret: false) })
        return try ServerConfiguration(config: ConfigReader(provider: provider))
    }

    /// Every field, printed, so two configurations compare in one assertion.
    private func fields(_ c: ServerConfiguration) -> [String: String] {
        [
            "host": c.host, "port": "\(c.port)", "workers": "\(c.workers.map(String.init) ?? "nil")",
            "pinWorkers": "\(c.pinWorkers.map { "\($0)" } ?? "nil")",
            "limits": "\(c.limits.maxRequestTargetLength) \(c.limits.maxHeaderBytes) \(c.limits.maxHeaderCount) \(c.limits.maxBodyBytes) \(c.limits.maxChunkLineLength)",
            "idleTimeout": "\(c.idleTimeout)", "headTimeout": "\(c.headTimeout)", "bodyTimeout": "\(c.bodyTimeout)",
            "minimumBodyRate": "\(c.minimumBodyRate)", "bodyRateGracePeriod": "\(c.bodyRateGracePeriod)",
            "writeTimeout": "\(c.writeTimeout)",
            "maxConnectionsPerWorker": "\(c.maxConnectionsPerWorker.map(String.init) ?? "nil")",
            "lingeringCloseTimeout": "\(c.lingeringCloseTimeout)", "lingeringCloseMaxBytes": "\(c.lingeringCloseMaxBytes)",
            "shutdownGracePeriod": "\(c.shutdownGracePeriod)", "preallocatedRequests": "\(c.preallocatedRequests)",
            "socketSendBufferSize": "\(c.socketSendBufferSize.map(String.init) ?? "nil")",
            "memoryTrimInterval": "\(c.memoryTrimInterval.map { "\($0)" } ?? "nil")",
        ]
    }

    /// Nothing set: the defaults of `ServerConfiguration()` without its environment overrides.
    func testNothingSetGivesTodaysDefaults() throws {
        var expected = ServerConfiguration(host: "127.0.0.1", port: 8080)
        expected.limits = .default
        expected.maxConnectionsPerWorker = nil
        XCTAssertEqual(fields(try configuration(environment: [:])), fields(expected))
        XCTAssertEqual(fields(try configuration(environment: ["UNRELATED": "1", "SPINDLE": "x"])), fields(expected))
        // The documented values themselves.
        let c = try configuration(environment: [:])
        XCTAssertEqual(c.host, "127.0.0.1")
        XCTAssertEqual(c.port, 8080)
        XCTAssertEqual(c.limits, HTTPLimits())
        XCTAssertEqual(c.idleTimeout, .seconds(60))
        XCTAssertEqual(c.shutdownGracePeriod, .seconds(10))
        XCTAssertEqual(c.lingeringCloseMaxBytes, 64 << 10)
    }

    /// Each key through its environment variable, with the value it gives.
    func testEveryKeyThroughItsEnvironmentVariable() throws {
        let cases: [(variable: String, value: String, check: (ServerConfiguration) -> Bool)] = [
            ("SPINDLE_HOST", "localhost", { $0.host == "localhost" }),
            ("SPINDLE_HOST", "::1", { $0.host == "::1" }),
            ("SPINDLE_PORT", "0", { $0.port == 0 }),
            ("SPINDLE_PORT", "65535", { $0.port == 65535 }),
            ("SPINDLE_WORKERS", "3", { $0.workers == 3 }),
            ("SPINDLE_PIN_WORKERS", "1", { $0.pinWorkers == true }),
            ("SPINDLE_PIN_WORKERS", "off", { $0.pinWorkers == false }),
            ("SPINDLE_PIN_WORKERS", "YES", { $0.pinWorkers == true }),
            ("SPINDLE_HTTP_MAX_TARGET_LENGTH", "2K", { $0.limits.maxRequestTargetLength == 2048 }),
            ("SPINDLE_HTTP_MAX_HEADER_BYTES", "32768", { $0.limits.maxHeaderBytes == 32768 }),
            ("SPINDLE_HTTP_MAX_HEADER_COUNT", "50", { $0.limits.maxHeaderCount == 50 }),
            ("SPINDLE_HTTP_MAX_BODY_BYTES", "2M", { $0.limits.maxBodyBytes == 2 << 20 }),
            ("SPINDLE_HTTP_MAX_BODY_BYTES", "0", { $0.limits.maxBodyBytes == 0 }),
            ("SPINDLE_HTTP_MAX_CHUNK_LINE_LENGTH", "1k", { $0.limits.maxChunkLineLength == 1024 }),
            ("SPINDLE_IDLE_TIMEOUT", "0.25", { $0.idleTimeout == .milliseconds(250) }),
            ("SPINDLE_IDLE_TIMEOUT", "250ms", { $0.idleTimeout == .milliseconds(250) }),
            ("SPINDLE_HEAD_TIMEOUT", "2s", { $0.headTimeout == .seconds(2) }),
            ("SPINDLE_BODY_TIMEOUT", "2m", { $0.bodyTimeout == .seconds(120) }),
            ("SPINDLE_BODY_TIMEOUT", " 1.5 ", { $0.bodyTimeout == .milliseconds(1500) }),
            ("SPINDLE_MINIMUM_BODY_RATE", "4K", { $0.minimumBodyRate == 4096 }),
            ("SPINDLE_BODY_RATE_GRACE_PERIOD", "0", { $0.bodyRateGracePeriod == .zero }),
            ("SPINDLE_WRITE_TIMEOUT", "45", { $0.writeTimeout == .seconds(45) }),
            ("SPINDLE_MAX_CONNECTIONS", "100", { $0.maxConnectionsPerWorker == 100 }),
            ("SPINDLE_MAX_CONNECTIONS_PER_WORKER", "7", { $0.maxConnectionsPerWorker == 7 }),
            ("SPINDLE_LINGERING_CLOSE_TIMEOUT", "500ms", { $0.lingeringCloseTimeout == .milliseconds(500) }),
            ("SPINDLE_LINGERING_CLOSE_MAX_BYTES", "128K", { $0.lingeringCloseMaxBytes == 128 << 10 }),
            ("SPINDLE_SHUTDOWN_GRACE_PERIOD", "30", { $0.shutdownGracePeriod == .seconds(30) }),
            ("SPINDLE_PREALLOCATED_REQUESTS", "8", { $0.preallocatedRequests == 8 }),
            ("SPINDLE_SOCKET_SEND_BUFFER_SIZE", "64K", { $0.socketSendBufferSize == 64 << 10 }),
            // Empty means unset, as for every SPINDLE_* variable before.
            ("SPINDLE_PORT", "", { $0.port == 8080 }),
            ("SPINDLE_IDLE_TIMEOUT", "  ", { $0.idleTimeout == .seconds(60) }),
        ]
        for (variable, value, check) in cases {
            let c = try configuration(environment: [variable: value])
            XCTAssertTrue(check(c), "\(variable)=\(value) gave \(fields(c))")
        }
        // The longer key wins over the one SPINDLE_MAX_CONNECTIONS has always been.
        let both = try configuration(environment: ["SPINDLE_MAX_CONNECTIONS": "100", "SPINDLE_MAX_CONNECTIONS_PER_WORKER": "7"])
        XCTAssertEqual(both.maxConnectionsPerWorker, 7)
    }

    /// In-memory (and file) providers give typed values; each type a key can take works.
    func testTypedValuesFromAnInMemoryProvider() throws {
        let c = try configuration(values: [
            "spindle.port": .int(9000),
            "spindle.pinWorkers": .bool(true),
            "spindle.shutdownGracePeriod": .int(5),
            "spindle.idleTimeout": .double(0.5),
            "spindle.headTimeout": .string("100ms"),
            "spindle.http.maxBodyBytes": .string("64K"),
            "spindle.http.maxHeaderCount": .int(10),
            "spindle.socketSendBufferSize": .double(4096),
        ])
        XCTAssertEqual(c.port, 9000)
        XCTAssertEqual(c.pinWorkers, true)
        XCTAssertEqual(c.shutdownGracePeriod, .seconds(5))
        XCTAssertEqual(c.idleTimeout, .milliseconds(500))
        XCTAssertEqual(c.headTimeout, .milliseconds(100))
        XCTAssertEqual(c.limits.maxBodyBytes, 64 << 10)
        XCTAssertEqual(c.limits.maxHeaderCount, 10)
        XCTAssertEqual(c.socketSendBufferSize, 4096)
    }

    /// `--spindle-…` arguments work (a bare flag is on), and come before environment variables
    /// when listed first.
    func testCommandLineArgumentsAndPrecedence() throws {
        let arguments = CommandLineArgumentsProvider(arguments: [
            "server", "--spindle-port", "9001", "--spindle-pin-workers", "--spindle-http-max-header-count", "40",
            "--spindle-shutdown-grace-period", "1.5s",
        ])
        let environment = EnvironmentVariablesProvider(environmentVariables: [
            "SPINDLE_PORT": "9002", "SPINDLE_WORKERS": "2", "SPINDLE_PIN_WORKERS": "0",
        ])
        let c = try ServerConfiguration(config: ConfigReader(providers: [arguments, environment]))
        XCTAssertEqual(c.port, 9001)
        XCTAssertEqual(c.pinWorkers, true)
        XCTAssertEqual(c.limits.maxHeaderCount, 40)
        XCTAssertEqual(c.shutdownGracePeriod, .milliseconds(1500))
        XCTAssertEqual(c.workers, 2, "a key only the environment sets")
        let reversed = try ServerConfiguration(config: ConfigReader(providers: [environment, arguments]))
        XCTAssertEqual(reversed.port, 9002)
        XCTAssertEqual(reversed.pinWorkers, false)
    }

    /// Malformed and out-of-range values: each throws a `ServerConfigurationError` naming the
    /// key, the value, its environment variable and option, and what the key accepts.
    func testInvalidValuesThrowNamingTheKey() throws {
        let huge = "9223372036854775807"
        let cases: [(variable: String, value: String, key: String)] = [
            ("SPINDLE_IDLE_TIMEOUT", "abc", "spindle.idleTimeout"),
            ("SPINDLE_IDLE_TIMEOUT", "-1", "spindle.idleTimeout"),
            ("SPINDLE_IDLE_TIMEOUT", "inf", "spindle.idleTimeout"),
            ("SPINDLE_IDLE_TIMEOUT", "nan", "spindle.idleTimeout"),
            ("SPINDLE_IDLE_TIMEOUT", "1e3", "spindle.idleTimeout"),
            ("SPINDLE_IDLE_TIMEOUT", "10ns", "spindle.idleTimeout"),
            ("SPINDLE_HEAD_TIMEOUT", "2000000000", "spindle.headTimeout"),
            ("SPINDLE_WRITE_TIMEOUT", "ms", "spindle.writeTimeout"),
            ("SPINDLE_SHUTDOWN_GRACE_PERIOD", "1.2.3", "spindle.shutdownGracePeriod"),
            ("SPINDLE_PORT", "65536", "spindle.port"),
            ("SPINDLE_PORT", "-1", "spindle.port"),
            ("SPINDLE_PORT", "80x", "spindle.port"),
            ("SPINDLE_PORT", huge + "0", "spindle.port"),
            ("SPINDLE_WORKERS", "0", "spindle.workers"),
            ("SPINDLE_WORKERS", "5000", "spindle.workers"),
            ("SPINDLE_PIN_WORKERS", "maybe", "spindle.pinWorkers"),
            ("SPINDLE_HOST", "two words", "spindle.host"),
            ("SPINDLE_HTTP_MAX_TARGET_LENGTH", "0", "spindle.http.maxTargetLength"),
            ("SPINDLE_HTTP_MAX_TARGET_LENGTH", "1G", "spindle.http.maxTargetLength"),
            ("SPINDLE_HTTP_MAX_HEADER_BYTES", "1", "spindle.http.maxHeaderBytes"),
            ("SPINDLE_HTTP_MAX_HEADER_COUNT", "0", "spindle.http.maxHeaderCount"),
            ("SPINDLE_HTTP_MAX_HEADER_COUNT", "1K", "spindle.http.maxHeaderCount"),
            ("SPINDLE_HTTP_MAX_BODY_BYTES", huge + "K", "spindle.http.maxBodyBytes"),
            ("SPINDLE_HTTP_MAX_BODY_BYTES", "12Q", "spindle.http.maxBodyBytes"),
            ("SPINDLE_HTTP_MAX_BODY_BYTES", "-5", "spindle.http.maxBodyBytes"),
            ("SPINDLE_HTTP_MAX_BODY_BYTES", "0x10", "spindle.http.maxBodyBytes"),
            ("SPINDLE_HTTP_MAX_CHUNK_LINE_LENGTH", "K", "spindle.http.maxChunkLineLength"),
            ("SPINDLE_MINIMUM_BODY_RATE", "fast", "spindle.minimumBodyRate"),
            ("SPINDLE_MAX_CONNECTIONS", "0", "spindle.maxConnections"),
            ("SPINDLE_MAX_CONNECTIONS_PER_WORKER", "-3", "spindle.maxConnectionsPerWorker"),
            ("SPINDLE_LINGERING_CLOSE_MAX_BYTES", "1.5K", "spindle.lingeringCloseMaxBytes"),
            ("SPINDLE_PREALLOCATED_REQUESTS", "100000", "spindle.preallocatedRequests"),
            ("SPINDLE_SOCKET_SEND_BUFFER_SIZE", "0", "spindle.socketSendBufferSize"),
            ("SPINDLE_SOCKET_SEND_BUFFER_SIZE", "4G", "spindle.socketSendBufferSize"),
        ]
        for (variable, value, key) in cases {
            XCTAssertThrowsError(try configuration(environment: [variable: value]), "\(variable)=\(value)") { error in
                guard let error = error as? ServerConfigurationError else {
                    return XCTFail("\(variable)=\(value) threw \(type(of: error)): \(error)")
                }
                XCTAssertEqual(error.key, key, "\(variable)=\(value)")
                XCTAssertEqual(error.value, value.trimmingCharacters(in: .whitespaces), "\(variable)=\(value)")
                XCTAssertEqual(error.environmentVariable, variable)
                XCTAssertTrue(error.description.contains(variable) && error.description.contains(error.commandLineOption)
                              && error.description.contains("expected \(error.expected)"), error.description)
            }
        }
    }

    /// Typed values of the wrong kind throw too (an in-memory `.bool` port, a flag given twice).
    func testWrongTypesThrowNamingTheKey() throws {
        let typed: [(key: AbsoluteConfigKey, content: ConfigContent)] = [
            ("spindle.port", .bool(true)),
            ("spindle.idleTimeout", .bool(false)),
            ("spindle.pinWorkers", .double(0.5)),
            ("spindle.host", .int(127)),
            ("spindle.workers", .double(1.5)),
            ("spindle.http.maxBodyBytes", .double(-1)),
        ]
        for (key, content) in typed {
            XCTAssertThrowsError(try configuration(values: [key: content]), "\(key)") { error in
                XCTAssertEqual((error as? ServerConfigurationError)?.key, key.components.joined(separator: "."), "\(error)")
            }
        }
        let twice = CommandLineArgumentsProvider(arguments: ["server", "--spindle-port", "1", "--spindle-port", "2"])
        XCTAssertThrowsError(try ServerConfiguration(config: ConfigReader(provider: twice))) { error in
            XCTAssertEqual((error as? ServerConfigurationError)?.value, "1,2", "\(error)")
        }
    }

    /// How a key is spelled as an environment variable and as a command-line option.
    func testKeyNames() {
        let cases: [(key: String, variable: String, option: String)] = [
            ("spindle.port", "SPINDLE_PORT", "--spindle-port"),
            ("spindle.idleTimeout", "SPINDLE_IDLE_TIMEOUT", "--spindle-idle-timeout"),
            ("spindle.http.maxBodyBytes", "SPINDLE_HTTP_MAX_BODY_BYTES", "--spindle-http-max-body-bytes"),
            ("spindle.maxConnectionsPerWorker", "SPINDLE_MAX_CONNECTIONS_PER_WORKER", "--spindle-max-connections-per-worker"),
        ]
        for (key, variable, option) in cases {
            let error = ServerConfigurationError(key: key, value: "x", expected: "y")
            XCTAssertEqual(error.environmentVariable, variable)
            XCTAssertEqual(error.commandLineOption, option)
        }
    }
}
