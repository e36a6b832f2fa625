import Synchronization
import SpindleTLS

/// The TLS context a server's new connections take: read once by each accepted connection, replaced
/// whole by `Server.reloadTLSCertificates()`. A connection keeps the context it started with
/// (its `TLSStream` holds it), so a reload drops none. Cost per TLS accept: one uncontended lock.
final class TLSContextSlot: Sendable {
    private let current: Mutex<TLSContext>

    init(_ context: TLSContext) { current = Mutex(context) }

    /// The context for a connection accepted now.
    var context: TLSContext { current.withLock { $0 } }

    /// Makes `context` the one new connections take.
    func replace(with context: TLSContext) { current.withLock { $0 = context } }
}

extension Server {
    /// Reads the certificates and keys of `configuration.tls` again from their files and makes
    /// new connections use them; connections already open keep theirs, so nothing is dropped.
    /// Sessions of the old certificates are not resumed after it (new ticket keys): their clients
    /// make a full handshake once. Call it on any thread, after `start()` or `run()` began (a
    /// certificate renewed on disk, say on SIGHUP). Costs what building the context costs (the
    /// PEM files parsed, each key checked: milliseconds), on the calling thread. Throws
    /// `TLSError` (`.configuration`, naming the file) when a file is missing or a key does not
    /// match, and then the server keeps serving the certificates it had; throws too when the
    /// server has no TLS configuration or has not started. In a worker process under the
    /// supervisor it reloads that process only (the supervisor's SIGHUP replaces the processes,
    /// which read the files anew).
    public func reloadTLSCertificates() throws {
        guard let tls = configuration.tls else {
            throw TLSError(.configuration, "the server has no TLS configuration (ServerConfiguration.tls) to reload")
        }
        guard let slot = tlsSlot.withLock({ $0 }) else {
            throw TLSError(.configuration, "the server has not started: reload its certificates after start() or run()")
        }
        slot.replace(with: try TLSContext(configuration: tls))
        logger.info("TLS certificates reloaded from \(tls.certificates.map(\.chainPath).joined(separator: ", "))")
    }
}

extension Server {
    /// The line the server logs once at start about who builds the TLS records it sends.
    static func kernelTLSSummary(_ policy: KernelTLSPolicy) -> String {
        switch (policy, KernelTLS.availability) {
        case (.never, _):
            return "TLS records are built in user space (OpenSSL): TLSConfiguration.kernelTLS is .never"
        case (.whenAvailable, .available), (.always, .available):
            return "TLS: after each handshake the kernel builds the records sent (kTLS, TLS 1.2 and 1.3 with AES-GCM or ChaCha20-Poly1305); OpenSSL reads the records received"
        case (.whenAvailable, .unavailable):
            return "TLS records are built in user space (OpenSSL); \(KernelTLS.availability)"
        case (.always, .unavailable):
            return "TLS: kTLS is tried on every connection (TLSConfiguration.kernelTLS is .always), though \(KernelTLS.availability): they will go on in user space (OpenSSL)"
        }
    }
}
