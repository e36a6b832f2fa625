import SpindleFibers

/// A host name that resolved to no address: the name and the resolver's reason.
public struct HostLookupError: Error, CustomStringConvertible, Sendable {
    /// The host as given.
    public let host: String
    /// Why: the resolver's text (`gai_strerror`), or what was wrong with the name.
    public let reason: String

    /// Creates the error. Cost: none beyond the strings.
    public init(host: String, reason: String) {
        self.host = host
        self.reason = reason
    }

    /// `cannot resolve host "name": Name or service not known`.
    public var description: String { "cannot resolve host \"\(host)\": \(reason)" }
}

extension SocketAddress {
    /// The addresses to connect to for `host` and `port`, the preferred first. A numeric IPv4
    /// or IPv6 address (`127.0.0.1`, `::1`, also `[::1]`) gives itself at once, without a
    /// lookup; a name is resolved with `getaddrinfo` on `pool` (the offload pool's threads,
    /// since it may wait for DNS) while the calling fiber parks, never its worker thread.
    /// Throws `HostLookupError` when nothing resolves, `OffloadRejectedError` when the pool's
    /// queue is full, `CancellationError` when the fiber is cancelled (after the lookup ends:
    /// getaddrinfo cannot be interrupted). Call from a fiber. Allocates the array (and, for a
    /// name, the offloaded closure and its result).
    public static func lookUp(host: String, port: Int, pool: OffloadPool = .shared) throws -> [SocketAddress] {
        guard (0...65535).contains(port) else { throw HostLookupError(host: host, reason: "port \(port) is outside 0...65535") }
        var name = Substring(host)
        if name.hasPrefix("["), name.hasSuffix("]"), name.count >= 2 { name = name.dropFirst().dropLast() }
        guard !name.isEmpty else { throw HostLookupError(host: host, reason: "the host is empty") }
        guard !name.utf8.contains(0) else { throw HostLookupError(host: host, reason: "the host contains a NUL byte") }
        let plain = String(name)
        if let numeric = try? SocketAddress(host: plain, port: port) { return [numeric] }
        let outcome = try Fiber.offload(pool: pool) { AddressLookup.connectAddresses(host: plain, port: port) }
        switch outcome {
        case .success(let addresses) where !addresses.isEmpty:
            return addresses
        case .success:
            throw HostLookupError(host: host, reason: "it resolved to no IPv4 or IPv6 address")
        case .failure(let failure):
            throw HostLookupError(host: host, reason: failure.message)
        }
    }
}
