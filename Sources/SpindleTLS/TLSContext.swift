// One of the two files that call OpenSSL (the other is TLSStream.swift). Invariants:
//  - every `SSL_CTX` made here is owned by its `TLSContext` or `TLSClientContext` (freed in
//    deinit, never elsewhere)
//    and is not changed after `init` returns, so the workers' threads may share it (OpenSSL
//    locks its session cache and reference counts internally);
//  - the server-name callback's argument is the context's `ServerNames`, which the context
//    keeps alive as long as the `SSL_CTX` that holds the pointer;
//  - OpenSSL's error queue is per thread: it is cleared before a call whose failure is read,
//    and drained into the message of the `TLSError` thrown (`openSSLErrors()`), never left for
//    an unrelated call to find.
#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSLTLS

/// The server side of TLS built once from a `TLSConfiguration`: OpenSSL contexts holding the
/// certificates and keys (read from their files here), the protocol versions, the ciphers,
/// ALPN (`http/1.1`), the session cache and ticket keys. One per server, shared read-only by all
/// its workers; each connection makes its own `TLSStream` from it.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: the OpenSSL contexts are set up in init and only read afterwards;
    // OpenSSL synchronizes its session cache and reference counts itself.

    /// The configuration this context was built from.
    public let configuration: TLSConfiguration
    /// The default certificate's context: every connection starts with it (its session cache
    /// and ticket keys serve all connections); SNI may switch a connection to another.
    let defaultContext: OpaquePointer
    private let names: ServerNames
    /// Whether each connection offers the kernel its records (the policy, and the probe's answer).
    let triesKernelTLS: Bool

    /// Reads the certificates and keys and sets up OpenSSL. Costs a few milliseconds (parsing
    /// the PEM files, checking each key against its certificate); call it once, at start, on any
    /// thread. Throws `TLSError` (`.configuration`) naming the file and what to do when a file
    /// is missing or unreadable, is not PEM, or when a key does not match its certificate.
    public init(configuration: TLSConfiguration) throws {
        guard let first = configuration.certificates.first else {
            throw TLSError(.configuration, "the TLS configuration has no certificate: give it at least one (certificateChainPath and privateKeyPath)")
        }
        self.configuration = configuration
        switch configuration.kernelTLS {
        case .always: triesKernelTLS = true
        case .never: triesKernelTLS = false
        case .whenAvailable: triesKernelTLS = KernelTLS.availability == .available
        }
        var made: [OpaquePointer] = []
        do {
            let primary = try Self.makeContext(first, configuration)
            made.append(primary)
            var entries: [(name: String, context: OpaquePointer)] = []
            for name in first.serverNames { entries.append((name.lowercased(), primary)) }
            for certificate in configuration.certificates.dropFirst() {
                let context = try Self.makeContext(certificate, configuration)
                made.append(context)
                for name in certificate.serverNames { entries.append((name.lowercased(), context)) }
            }
            defaultContext = primary
            names = ServerNames(entries: entries, owned: made)
        } catch {
            for context in made { SSL_CTX_free(context) }
            throw error
        }
        if configuration.certificates.count > 1 {
            spindle_tls_ctx_set_servername_callback(defaultContext, { ssl, _, argument in
                guard let ssl, let argument, let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else {
                    return SSL_TLSEXT_ERR_OK
                }
                let names = Unmanaged<ServerNames>.fromOpaque(argument).takeUnretainedValue()
                if let context = names.context(for: String(cString: name).lowercased()) { _ = SSL_set_SSL_CTX(ssl, context) }
                return SSL_TLSEXT_ERR_OK
            }, Unmanaged.passUnretained(names).toOpaque())
        }
    }

    deinit {
        for context in names.owned { SSL_CTX_free(context) }
    }

    /// One OpenSSL context for `certificate` with the configuration's versions, ciphers, ALPN and
    /// session settings.
    private static func makeContext(_ certificate: TLSConfiguration.Certificate, _ configuration: TLSConfiguration) throws -> OpaquePointer {
        try checkReadable(certificate.chainPath, what: "certificate chain")
        try checkReadable(certificate.privateKeyPath, what: "private key")
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError(.configuration, "OpenSSL could not make a context\(openSSLErrors())")
        }
        do {
            let minimum = configuration.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
            guard spindle_tls_ctx_set_proto_versions(context, minimum, TLS1_3_VERSION) == 1 else {
                throw TLSError(.configuration, "OpenSSL refused the protocol versions\(openSSLErrors())")
            }
            guard SSL_CTX_set_cipher_list(context, configuration.tls12Ciphers) == 1 else {
                throw TLSError(.configuration, "OpenSSL knows none of the TLS 1.2 ciphers '\(configuration.tls12Ciphers)': give an OpenSSL cipher list (see `openssl ciphers -v`)\(openSSLErrors())")
            }
            spindle_tls_ctx_set_server_options(context)
            spindle_tls_ctx_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
            spindle_tls_ctx_enable_alpn_http11(context)
            let sessionContext: [UInt8] = Array("spindle".utf8)
            _ = SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count))
            if !configuration.sessionResumption {
                spindle_tls_ctx_disable_resumption(context)
            }
            guard SSL_CTX_use_certificate_chain_file(context, certificate.chainPath) == 1 else {
                throw TLSError(.configuration, "'\(certificate.chainPath)' holds no usable certificate chain: give a PEM file with the certificate first, then its intermediates\(openSSLErrors())")
            }
            guard SSL_CTX_use_PrivateKey_file(context, certificate.privateKeyPath, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError(.configuration, "'\(certificate.privateKeyPath)' holds no usable private key, or not the certificate's (\(certificate.chainPath)): give the unencrypted PEM key the certificate was made for\(openSSLErrors())")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError(.configuration, "the private key '\(certificate.privateKeyPath)' does not match the certificate '\(certificate.chainPath)': give the key the certificate was made for\(openSSLErrors())")
            }
            return context
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }

    /// Throws a configuration error naming `path` when it cannot be opened for reading.
    private static func checkReadable(_ path: String, what: String) throws {
        guard access(path, R_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TLSError(.configuration, "the TLS \(what) file '\(path)' cannot be read (\(reason)): give the path of a readable PEM file")
        }
    }

    /// A new OpenSSL connection object in server mode, or nil when OpenSSL is out of memory.
    func makeConnection() -> OpaquePointer? {
        guard let ssl = SSL_new(defaultContext) else { return nil }
        SSL_set_accept_state(ssl)
        return ssl
    }
}

/// The client side of TLS built once from a `TLSClientConfiguration`: one OpenSSL context that
/// verifies servers against the system's trust store or the given CA file, offers ALPN
/// `http/1.1` and accepts TLS 1.2 (or 1.3 only) to 1.3. Shared read-only by the connections made
/// from it (`TLSStream(connecting:context:serverName:)`).
public final class TLSClientContext: @unchecked Sendable {
    // @unchecked Sendable: the OpenSSL context is set up in init and only read afterwards.

    /// The configuration this context was built from.
    public let configuration: TLSClientConfiguration
    let context: OpaquePointer

    /// Sets up OpenSSL and loads the trusted certificates (the system's store, or the CA file).
    /// Costs milliseconds (the system's store is read lazily by OpenSSL, per lookup); call once
    /// per client. Throws `TLSError` (`.configuration`) naming the file and what to give when the
    /// CA file cannot be read or holds no certificate.
    public init(configuration: TLSClientConfiguration = TLSClientConfiguration()) throws {
        self.configuration = configuration
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError(.configuration, "OpenSSL could not make a client context\(openSSLErrors())")
        }
        do {
            let minimum = configuration.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
            guard spindle_tls_ctx_set_proto_versions(context, minimum, TLS1_3_VERSION) == 1 else {
                throw TLSError(.configuration, "OpenSSL refused the protocol versions\(openSSLErrors())")
            }
            spindle_tls_ctx_set_client_options(context)
            spindle_tls_ctx_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
            spindle_tls_ctx_verify_peer(context)
            guard spindle_tls_ctx_offer_alpn_http11(context) == 0 else {
                throw TLSError(.configuration, "OpenSSL refused the ALPN offer\(openSSLErrors())")
            }
            if let path = configuration.caCertificatesPath {
                guard access(path, R_OK) == 0 else {
                    let reason = String(cString: strerror(errno))
                    throw TLSError(.configuration, "the CA certificates file '\(path)' cannot be read (\(reason)): give the path of a readable PEM file, or nil for the system's trust store")
                }
                guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                    throw TLSError(.configuration, "'\(path)' holds no usable CA certificate: give a PEM file of one or more certificates\(openSSLErrors())")
                }
            } else {
                guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                    throw TLSError(.configuration, "OpenSSL could not find the system's trust store (install ca-certificates, or give caCertificatesPath)\(openSSLErrors())")
                }
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
    }

    deinit { SSL_CTX_free(context) }

    /// A new OpenSSL connection object in client mode that sends `serverName` for SNI (unless
    /// it is an IP address) and accepts only a certificate valid for it, or nil when OpenSSL is
    /// out of memory or refuses the name.
    func makeConnection(serverName: String) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        SSL_set_connect_state(ssl)
        let isAddress = serverName.contains(":") || serverName.allSatisfy { $0 == "." || $0.isNumber }
        let named: Bool
        if isAddress {
            named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1
        } else {
            named = SSL_set1_host(ssl, serverName) == 1 && spindle_tls_set_server_name(ssl, serverName) == 1
        }
        guard named else {
            SSL_free(ssl)
            return nil
        }
        return ssl
    }
}

/// The server names of a context's certificates, for the SNI callback (read-only after init).
private final class ServerNames {
    let entries: [(name: String, context: OpaquePointer)]
    /// Every context made, freed by the `TLSContext`.
    let owned: [OpaquePointer]

    init(entries: [(name: String, context: OpaquePointer)], owned: [OpaquePointer]) {
        self.entries = entries
        self.owned = owned
    }

    /// The context of the first certificate listing `name` (lowercased), exactly or by a
    /// `*.` wildcard covering its first label.
    func context(for name: String) -> OpaquePointer? {
        if let exact = entries.first(where: { $0.name == name }) { return exact.context }
        guard let dot = name.firstIndex(of: ".") else { return nil }
        let wildcard = "*" + name[dot...]
        return entries.first(where: { $0.name == wildcard })?.context
    }
}

/// OpenSSL's queued errors of this thread, as "; " + reasons (empty when none), draining the queue.
func openSSLErrors() -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        reasons.append(String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return reasons.isEmpty ? "" : " (OpenSSL: " + reasons.joined(separator: "; ") + ")"
}
