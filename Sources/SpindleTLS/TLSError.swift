/// A TLS failure: a configuration OpenSSL refused (a file missing, a key that does not match its
/// certificate), a handshake that failed or was cut short, or a broken record on an open
/// connection. `message` says what happened and, for configurations, what to do; OpenSSL's own
/// reasons are appended when it gave any.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure.
    public enum Kind: Sendable, Hashable {
        /// `TLSContext` could not be built from the configuration (raised at server start).
        case configuration
        /// The peer sent something that is not a valid handshake, or none of our versions and
        /// ciphers suit it.
        case handshakeFailed
        /// The peer closed the connection before the handshake completed.
        case closedDuringHandshake
        /// A record on an established connection could not be read or written.
        case protocolError
    }

    /// What kind of failure.
    public let kind: Kind
    /// What happened, in words (with OpenSSL's reasons when it gave any).
    public let message: String

    /// A failure of `kind` described by `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// `message`, prefixed with "TLS: ".
    public var description: String { "TLS: \(message)" }
}
