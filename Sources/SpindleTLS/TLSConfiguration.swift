/// How a server terminates TLS: its certificates (PEM files, one chosen per connection by the
/// name the client asks for, SNI), the lowest protocol version it accepts and how long a client
/// has to finish its handshake. A plain value: building it opens no file; `TLSContext` reads
/// the files and reports what is wrong with them.
public struct TLSConfiguration: Sendable {
    /// One certificate chain and its private key, served to the clients that ask for one of
    /// `serverNames` (exact names, or `*.example.com` for one label under it, compared without
    /// case). The first certificate of a configuration is also the default: clients that send
    /// no server name, or one that no certificate lists, get it.
    public struct Certificate: Sendable {
        /// The PEM file of the certificate followed by its intermediates (leaf first).
        public var chainPath: String
        /// The PEM file of the certificate's private key (unencrypted).
        public var privateKeyPath: String
        /// The names this certificate is chosen for (empty: only as the default).
        public var serverNames: [String]

        /// A certificate chain and key from PEM files, chosen for `serverNames`. Opens nothing.
        public init(chainPath: String, privateKeyPath: String, serverNames: [String] = []) {
            self.chainPath = chainPath
            self.privateKeyPath = privateKeyPath
            self.serverNames = serverNames
        }
    }

    /// The certificates; the first is the default (see `Certificate`). Must not be empty.
    public var certificates: [Certificate]
    /// The lowest protocol version accepted (TLS 1.2 by default; TLS 1.3 is the highest).
    public var minimumVersion: TLSVersion = .tls12
    /// How long a new connection has to complete its handshake; past it, the server closes it.
    public var handshakeTimeout: Duration = .seconds(10)
    /// The OpenSSL cipher list for TLS 1.2 (TLS 1.3 uses OpenSSL's default suites: AES-GCM and
    /// ChaCha20-Poly1305). The default is forward-secret AEAD suites only (ECDHE with AES-GCM or
    /// ChaCha20-Poly1305).
    public var tls12Ciphers: String = TLSConfiguration.modernTLS12Ciphers
    /// Whether clients may resume sessions (session tickets and the server's session cache).
    /// On by default; tickets are encrypted with keys OpenSSL makes per process at start.
    public var sessionResumption: Bool = true
    /// Whether connections hand the records they send to the kernel after the handshake (kTLS;
    /// `.whenAvailable` by default: where `KernelTLS.availability` says the kernel has it).
    public var kernelTLS: KernelTLSPolicy = .whenAvailable

    /// The default TLS 1.2 cipher list: ECDHE key exchange with AEAD ciphers only.
    public static let modernTLS12Ciphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// One certificate chain and key from PEM files, served to every client. Opens nothing.
    public init(certificateChainPath: String, privateKeyPath: String) {
        certificates = [Certificate(chainPath: certificateChainPath, privateKeyPath: privateKeyPath)]
    }

    /// Several certificates, chosen by server name (SNI); the first is the default. Opens nothing.
    public init(certificates: [Certificate]) {
        self.certificates = certificates
    }
}

/// A TLS protocol version.
public enum TLSVersion: Sendable, Hashable {
    /// TLS 1.2 (RFC 5246).
    case tls12
    /// TLS 1.3 (RFC 8446).
    case tls13
}

/// How a client speaks TLS: which certificate authorities it trusts and the lowest protocol
/// version it accepts. The server's certificate is always verified, against the host name the
/// client connects to (or its IP address), and the name is sent for SNI. A plain value: building
/// it opens no file; `TLSClientContext` reads the files.
public struct TLSClientConfiguration: Sendable {
    /// A PEM file of CA certificates to trust *instead of* the system's trust store (Debian's
    /// `ca-certificates` under /etc/ssl/certs); nil trusts the system's store. For a private CA,
    /// or a self-signed certificate made for a test.
    public var caCertificatesPath: String?
    /// The lowest protocol version accepted (TLS 1.2 by default; TLS 1.3 is the highest).
    public var minimumVersion: TLSVersion = .tls12

    /// Trusts the system's store, or only the CA certificates in `caCertificatesPath`. Opens nothing.
    public init(caCertificatesPath: String? = nil) {
        self.caCertificatesPath = caCertificatesPath
    }
}
