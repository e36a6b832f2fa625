import SpindleMemory

/// A host to listen on that resolved to no address: the host as given and the resolver's reason.
public struct HostResolutionError: Error, CustomStringConvertible, Sendable {
    /// The host as given (`"localhost"`, `"example.internal"`).
    public let host: String
    /// Why: the resolver's text (`getaddrinfo`'s `gai_strerror`), or what was wrong with the host.
    public let reason: String

    /// Creates the error for `host` with `reason`. Cost: none beyond the strings.
    public init(host: String, reason: String) {
        self.host = host
        self.reason = reason
    }

    /// `cannot listen on host "name": Name or service not known (…)`.
    public var description: String {
        "cannot listen on host \"\(host)\": \(reason) (give a numeric IPv4 or IPv6 address, such as 127.0.0.1 or ::1, or a name /etc/hosts or DNS resolves, such as localhost)"
    }
}

extension SocketAddress {
    /// The addresses to listen on for `host` and `port`, the preferred first: a numeric IPv4 or
    /// IPv6 address (`127.0.0.1`, `::1`, also bracketed, `[::1]`) gives itself; a name
    /// (`localhost`) gives what `getaddrinfo` resolves it to (IPv4 and IPv6), in its order.
    /// Throws `HostResolutionError` when the host is empty or nothing resolves.
    ///
    /// Cost: a numeric host is parsed without a lookup; a name may block the calling thread
    /// while /etc/hosts is read or DNS answers, so call it at startup (as `Server` does when it
    /// binds), not on a worker's fiber. Allocates the array.
    public static func resolve(host: String, port: Int) throws(HostResolutionError) -> [SocketAddress] {
        misusePrecondition((0...65535).contains(port), "SocketAddress.resolve: port \(port) is outside 0...65535")
        var name = Substring(host)
        if name.hasPrefix("["), name.hasSuffix("]"), name.count >= 2 { name = name.dropFirst().dropLast() }
        guard !name.isEmpty else { throw HostResolutionError(host: host, reason: "the host is empty") }
        guard !name.utf8.contains(0) else { throw HostResolutionError(host: host, reason: "the host contains a NUL byte") }
        if let numeric = try? SocketAddress(host: String(name), port: port) { return [numeric] }
        switch AddressLookup.listeningAddresses(host: String(name), port: port) {
        case .success(let addresses) where !addresses.isEmpty:
            return addresses
        case .success:
            throw HostResolutionError(host: host, reason: "it resolved to no IPv4 or IPv6 address")
        case .failure(let failure):
            throw HostResolutionError(host: host, reason: failure.message)
        }
    }
}
