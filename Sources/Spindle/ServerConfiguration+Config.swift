import Configuration
import SpindleHTTP
import SpindleTLS

extension ServerConfiguration {
    /// The scope `init(config:)` reads every key under: `spindle.idleTimeout`, which
    /// `EnvironmentVariablesProvider` spells `SPINDLE_IDLE_TIMEOUT` and `CommandLineArgumentsProvider`
    /// `--spindle-idle-timeout`.
    public static let configurationScope = "spindle"

    /// Reads every field from `config` under the `spindle` scope; a key no provider has keeps its
    /// default (those of `init(host:port:)` without the environment: the reader is the only
    /// source). `Docs/configuration.md` lists every key with its type, range and default; the
    /// names match today's `SPINDLE_*` variables, so
    ///
    ///     let config = ConfigReader(providers: [CommandLineArgumentsProvider(), EnvironmentVariablesProvider()])
    ///     let configuration = try ServerConfiguration(config: config)
    ///
    /// takes `--spindle-port 9000`, then `SPINDLE_PORT=9000`. Durations are seconds (`2`, `0.25`)
    /// or carry a unit (`250ms`, `2s`, `1m`); byte counts take `K`/`M`/`G` suffixes; flags are
    /// `on`/`off` (or `true`/`false`, `yes`/`no`, `1`/`0`). Empty text counts as unset.
    ///
    /// Throws `ServerConfigurationError` naming the first key whose value is malformed or out of
    /// range (never a silent default). Cost: a few lookups per key, at startup; nothing is kept
    /// watching the reader (a later change of a provider does not reach a running server).
    /// `workers` and `pinWorkers`, when no provider sets them, stay nil: the runtime then uses
    /// the usable CPUs (`SPINDLE_WORKERS`, `SPINDLE_PIN_WORKERS` from the process environment).
    public init(config: ConfigReader) throws(ServerConfigurationError) {
        let scope = Self.configurationScope
        let settings = ConfigurationSettings(reader: config.scoped(to: ConfigKey(scope)), scope: scope)
        self.init(defaultsWithHost: "127.0.0.1", port: 8080)
        if let value = try settings.host("host") { host = value }
        if let value = try settings.integer("port", in: 0...65535) { port = value }
        if let value = try settings.integer("workers", in: 1...Self.mostWorkers) { workers = value }
        if let value = try settings.flag("pinWorkers") { pinWorkers = value }
        limits = try Self.limits(from: settings)
        if let value = try settings.duration("idleTimeout") { idleTimeout = value }
        if let value = try settings.duration("headTimeout") { headTimeout = value }
        if let value = try settings.duration("bodyTimeout") { bodyTimeout = value }
        if let value = try settings.byteCount("minimumBodyRate", in: 0...Int.max) { minimumBodyRate = value }
        if let value = try settings.duration("bodyRateGracePeriod") { bodyRateGracePeriod = value }
        if let value = try settings.duration("writeTimeout") { writeTimeout = value }
        // `maxConnections` is the key SPINDLE_MAX_CONNECTIONS has always been; the longer one wins.
        if let value = try settings.integer("maxConnectionsPerWorker", in: 1...Int.max) {
            maxConnectionsPerWorker = value
        } else if let value = try settings.integer("maxConnections", in: 1...Int.max) {
            maxConnectionsPerWorker = value
        }
        if let value = try settings.duration("lingeringCloseTimeout") { lingeringCloseTimeout = value }
        if let value = try settings.byteCount("lingeringCloseMaxBytes", in: 0...Int.max) { lingeringCloseMaxBytes = value }
        if let value = try settings.duration("shutdownGracePeriod") { shutdownGracePeriod = value }
        if let value = try settings.integer("preallocatedRequests", in: 0...Self.mostPreallocatedRequests) { preallocatedRequests = value }
        if let value = try settings.byteCount("socketSendBufferSize", in: 1...Int(Int32.max)) { socketSendBufferSize = value }
        if let value = try settings.flag("metrics") { collectsRequestMetrics = value }
        if let value = try settings.integer("adminPort", in: 0...65535) { adminPort = value }
        if let value = try settings.host("adminHost") { adminHost = value }
        if let value = try settings.text("adminToken") { adminToken = value }
        if let value = try settings.duration("hogThreshold") { hogThreshold = value > .zero ? value : nil }
        if let value = try settings.duration("memoryTrimInterval") { memoryTrimInterval = value > .zero ? value : nil }
        if let value = try settings.integer("processes", in: 1...Self.mostProcesses) { processes = value }
        if let value = try settings.integer("supervision.crashLoopLimit", in: 1...Int.max) { supervision.crashLoopLimit = value }
        if let value = try settings.duration("supervision.crashLoopWindow") { supervision.crashLoopWindow = value }
        if let value = try settings.duration("supervision.maximumRestartDelay") { supervision.maximumRestartDelay = value }
        if let value = try settings.duration("supervision.stopMargin") { supervision.stopMargin = value }
        tls = try Self.tls(from: settings, scope: scope)
    }

    /// The `spindle.tls.*` keys: a certificate chain and its key (both or neither; the files are
    /// read when the server starts), and with them the names it serves, more certificates
    /// chosen by SNI, the handshake timeout, the lowest version, the TLS 1.2 ciphers, resumption
    /// and kTLS. Any of the others without the first two is an error (they turn TLS on).
    private static func tls(from settings: ConfigurationSettings, scope: String) throws(ServerConfigurationError) -> TLSConfiguration? {
        let chain = try settings.text("tls.certificateChain")
        let key = try settings.text("tls.privateKey")
        var tls: TLSConfiguration
        switch (chain, key) {
        case (let chain?, let key?):
            tls = TLSConfiguration(certificateChainPath: chain, privateKeyPath: key)
        case (nil, nil):
            for other in tlsOptionKeys where settings.setting(other) != nil {
                throw ServerConfigurationError(key: scope + "." + other, value: settings.setting(other).map { "\($0)" } ?? "",
                                               expected: "no value without tls.certificateChain and tls.privateKey (they turn TLS on)")
            }
            return nil
        case (nil, _?):
            throw ServerConfigurationError(key: scope + ".tls.certificateChain", value: "",
                                           expected: "the PEM file of the certificate chain, given together with tls.privateKey")
        case (_?, nil):
            throw ServerConfigurationError(key: scope + ".tls.privateKey", value: "",
                                           expected: "the PEM file of the certificate's private key, given together with tls.certificateChain")
        }
        if let names = try settings.text("tls.serverNames") { tls.certificates[0].serverNames = Self.names(names) }
        if let more = try settings.text("tls.moreCertificates") {
            for entry in more.split(separator: ";") where !entry.allSatisfy(\.isWhitespace) {
                let fields = entry.split(separator: ",", omittingEmptySubsequences: false).map { String($0).withoutSurroundingWhitespace }
                guard fields.count >= 3, !fields[0].isEmpty, !fields[1].isEmpty, fields[2...].allSatisfy({ !$0.isEmpty }) else {
                    throw ServerConfigurationError(key: scope + ".tls.moreCertificates", value: more,
                                                   expected: "certificates separated by ';', each 'chain.pem,key.pem,name[,name…]' (one name at least: the first certificate is the default)")
                }
                tls.certificates.append(TLSConfiguration.Certificate(chainPath: fields[0], privateKeyPath: fields[1],
                                                                     serverNames: fields[2...].map { $0.lowercased() }))
            }
        }
        if let value = try settings.duration("tls.handshakeTimeout") { tls.handshakeTimeout = value }
        if let value = try settings.text("tls.minimumVersion") {
            switch value {
            case "1.2": tls.minimumVersion = .tls12
            case "1.3": tls.minimumVersion = .tls13
            default: throw ServerConfigurationError(key: scope + ".tls.minimumVersion", value: value, expected: "1.2 or 1.3")
            }
        }
        if let value = try settings.text("tls.ciphers") { tls.tls12Ciphers = value }
        if let value = try settings.flag("tls.sessionResumption") { tls.sessionResumption = value }
        if let value = try settings.text("tls.kernelTLS") {
            switch value {
            case "whenAvailable": tls.kernelTLS = .whenAvailable
            case "never": tls.kernelTLS = .never
            case "always": tls.kernelTLS = .always
            default: throw ServerConfigurationError(key: scope + ".tls.kernelTLS", value: value, expected: "whenAvailable, never or always")
            }
        }
        return tls
    }

    /// The `tls.*` keys that only mean something with a certificate.
    private static let tlsOptionKeys = ["tls.serverNames", "tls.moreCertificates", "tls.handshakeTimeout", "tls.minimumVersion",
                                        "tls.ciphers", "tls.sessionResumption", "tls.kernelTLS"]

    /// `a.test, *.b.test` → ["a.test", "*.b.test"] (lowercased, blanks dropped).
    private static func names(_ list: String) -> [String] {
        list.split(separator: ",").map { String($0).withoutSurroundingWhitespace.lowercased() }.filter { !$0.isEmpty }
    }

    /// The most workers a configuration may ask for (each is a thread with its own ring).
    static let mostWorkers = 4096
    /// The most worker processes a configuration may ask for.
    static let mostProcesses = 1024
    /// The most request buffers a configuration may preallocate per worker.
    static let mostPreallocatedRequests = 1 << 16
    /// The largest request-target, field section or chunk line a configuration may allow:
    /// 512 MiB, inside the parser's 32-bit offsets (`HTTPLimits`).
    static let longestHeadPart = 1 << 29
    /// The most field lines a configuration may allow (the parser preallocates 16 bytes each).
    static let mostHeaderFields = 1 << 16

    /// The `spindle.http.*` keys, checked against the ranges `HTTPLimits.init` requires (so
    /// building the limits cannot trap).
    private static func limits(from settings: ConfigurationSettings) throws(ServerConfigurationError) -> HTTPLimits {
        var limits = HTTPLimits.default
        if let value = try settings.byteCount("http.maxTargetLength", in: 1...longestHeadPart) { limits.maxRequestTargetLength = value }
        if let value = try settings.byteCount("http.maxHeaderBytes", in: 2...longestHeadPart) { limits.maxHeaderBytes = value }
        if let value = try settings.integer("http.maxHeaderCount", in: 1...mostHeaderFields) { limits.maxHeaderCount = value }
        if let value = try settings.byteCount("http.maxBodyBytes", in: 0...Int.max) { limits.maxBodyBytes = value }
        if let value = try settings.byteCount("http.maxChunkLineLength", in: 1...longestHeadPart) { limits.maxChunkLineLength = value }
        return HTTPLimits(maxRequestTargetLength: limits.maxRequestTargetLength, maxHeaderBytes: limits.maxHeaderBytes,
                          maxHeaderCount: limits.maxHeaderCount, maxBodyBytes: limits.maxBodyBytes,
                          maxChunkLineLength: limits.maxChunkLineLength)
    }
}
