// One of the two files that call OpenSSL (the other is TLSContext.swift). Invariants:
//  - the `SSL` object is owned by its stream (freed in deinit) and owns its two memory BIOs
//    (`SSL_set_bio`), so nothing here frees a BIO; the stream keeps its `TLSContext` alive, whose
//    SNI names the `SSL`'s callback reads;
//  - OpenSSL never parks: it reads ciphertext from `incoming` and writes it to `outgoing`,
//    memory only. The stream moves ciphertext between the BIOs and the `TCPConnection`, and
//    only those moves park the fiber. With kTLS (`kernelFilter`, a filter BIO on `outgoing`,
//    see COpenSSLTLS/shim.h) OpenSSL also sends on the socket itself, without blocking, but
//    only while `direct` is set: during the handshake (whose fiber has no send in flight between
//    OpenSSL calls) and around `SSL_shutdown` under `outputLock` after a drain;
//  - once the kernel builds the records (`kernelTransmits`), plaintext goes to the socket
//    directly, under `outputLock`, after whatever OpenSSL left in `outgoing`;
//  - two fibers may use a stream at once, one reading and one writing (a WebSocket's reader
//    and writer): `readScratch` is touched only by `receive` and `writeScratch` only by
//    `flush`, which runs under `outputLock`, so each buffer has one user while an I/O into it
//    is in flight; OpenSSL itself is called only between parks (one thread), and ciphertext
//    leaves `outgoing` in order because only the lock's holder drains it;
//  - the error queue is cleared before each `SSL_*` call whose result is examined.
#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSLTLS
import SpindleFibers
import SpindleIO
import SpindleMemory

/// A TLS connection over a `TCPConnection`, server or client side: `handshake`, then `read`
/// and `write` plaintext. OpenSSL works on memory buffers; the ciphertext goes through the connection's
/// parking `read`/`write`, so every call here parks the calling fiber (never the thread) while
/// it waits for the network, on either I/O backend. Used on one worker's thread, by one fiber at
/// a time or by two — one reading, one writing (several writers take turns) — like a socket.
/// Costs per stream: OpenSSL's connection state (a few KiB, its record buffers released while
/// idle) and two 16 KiB scratch buffers (ciphertext in and out).
public final class TLSStream {
    /// The underlying connection (ciphertext).
    public let connection: TCPConnection
    /// Kept alive while the `SSL` may call back into it (the SNI callback's names), or uses it
    /// (the client's trust store).
    private let context: AnyObject
    /// Which side of the handshake this stream is.
    private let role: Role
    private let ssl: OpaquePointer
    private let incoming: OpaquePointer
    private let outgoing: OpaquePointer
    /// The kTLS filter OpenSSL writes through (on `outgoing`), nil when kTLS is not tried.
    private let kernelFilter: OpaquePointer?
    /// Ciphertext received (`receive` only).
    private let readScratch: UnsafeMutableRawPointer
    /// Ciphertext being sent (`flush` only, under `outputLock`).
    private let writeScratch: UnsafeMutableRawPointer
    /// Held while ciphertext is drained from `outgoing` and sent, and for a whole `write`:
    /// records go out whole and in order when a reader and writers share the stream.
    private let outputLock = FiberMutex()
    private static let scratchSize = 16 << 10
    /// Bytes of plaintext handed to OpenSSL per `SSL_write` (one record).
    private static let recordSize = 16 << 10
    /// Ciphertext gathered before it is sent (several records per send).
    private static let sendThreshold = 64 << 10
    // `@exclusivity(unchecked)`: one fiber, short accesses that never span a park.
    @exclusivity(unchecked) private var peerClosed = false
    @exclusivity(unchecked) private var state = State.handshaking
    /// True once the kernel frames and encrypts what is sent (set by the handshake).
    @exclusivity(unchecked) private var kernelTransmits = false
    /// True once a write failed (timed out, cancelled, the peer gone): `close` then sends no
    /// close_notify, which would make a cut-off response look complete.
    @exclusivity(unchecked) private var writeFailed = false

    private enum State { case handshaking, open, closed }
    private enum Role {
        case server, client
        /// The other side, in messages.
        var peer: String { self == .server ? "client" : "server" }
    }

    /// Starts the server side of TLS on `connection` with `context`'s certificates. Allocates
    /// the OpenSSL state and the scratch buffer; sends and receives nothing (call `handshake`).
    /// Throws `TLSError` when OpenSSL is out of memory.
    public init(accepting connection: TCPConnection, context: TLSContext) throws {
        ERR_clear_error()
        guard let ssl = context.makeConnection() else { throw TLSError(.protocolError, "OpenSSL could not make a connection\(openSSLErrors())") }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.protocolError, "OpenSSL could not make its buffers\(openSSLErrors())")
        }
        spindle_tls_bio_set_mem_eof_return(incoming, -1)  // empty: "want more", until the peer's end of stream
        var kernelFilter: OpaquePointer? = nil
        if context.triesKernelTLS, let method = Self.kernelFilterMethod {
            kernelFilter = spindle_tls_ktls_filter_new(method, connection.fd, outgoing)
        }
        if let kernelFilter {
            SSL_set_bio(ssl, incoming, kernelFilter)  // the filter owns `outgoing` (freed with it)
            spindle_tls_enable_ktls(ssl)
        } else {
            SSL_set_bio(ssl, incoming, outgoing)
        }
        self.kernelFilter = kernelFilter
        self.connection = connection
        self.context = context
        self.role = .server
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        readScratch = HeapBytes.allocate(Self.scratchSize)
        writeScratch = HeapBytes.allocate(Self.scratchSize)
    }

    /// Starts the client side of TLS on `connection` to `serverName` (a host name, sent for SNI,
    /// or an IP address): the handshake will accept only a certificate that `context` trusts
    /// and that is valid for that name. Allocates the OpenSSL state and the scratch buffer;
    /// sends nothing (call `handshake`). Throws `TLSError` when OpenSSL is out of memory or
    /// refuses the name.
    public init(connecting connection: TCPConnection, context: TLSClientContext, serverName: String) throws {
        ERR_clear_error()
        guard let ssl = context.makeConnection(serverName: serverName) else {
            throw TLSError(.configuration, "OpenSSL refused the server name \(serverName.debugDescription)\(openSSLErrors())")
        }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.protocolError, "OpenSSL could not make its buffers\(openSSLErrors())")
        }
        spindle_tls_bio_set_mem_eof_return(incoming, -1)
        SSL_set_bio(ssl, incoming, outgoing)
        self.kernelFilter = nil
        self.connection = connection
        self.context = context
        self.role = .client
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        readScratch = HeapBytes.allocate(Self.scratchSize)
        writeScratch = HeapBytes.allocate(Self.scratchSize)
    }

    /// The kTLS filter's method table, made once per process (nil if OpenSSL could not); only
    /// read after that, by any worker (`nonisolated(unsafe)`: a `BIO_METHOD` is immutable once set up).
    nonisolated(unsafe) private static let kernelFilterMethod: OpaquePointer? = spindle_tls_ktls_method_new()

    deinit {
        SSL_free(ssl)
        HeapBytes.deallocate(readScratch)
        HeapBytes.deallocate(writeScratch)
    }

    /// Runs the handshake to its end, parking while the peer's messages are on their way.
    /// Throws `TLSError` (`.handshakeFailed` after sending the peer an alert when it can — for
    /// a client, also when the server's certificate is not trusted or not valid for the name,
    /// with the reason —, `.closedDuringHandshake`), the connection's `IOError`s,
    /// `TimeoutError` when `deadline` passes, `CancellationError`. Call once, first.
    public func handshake(deadline: Deadline?) throws {
        // OpenSSL may send on the socket itself while it hands records to the kernel (see the
        // invariants): this fiber has no send in flight between its OpenSSL calls.
        if let kernelFilter { spindle_tls_ktls_filter_set_direct(kernelFilter, 1) }
        defer { if let kernelFilter { spindle_tls_ktls_filter_set_direct(kernelFilter, 0) } }
        while true {
            ERR_clear_error()
            let rc = SSL_do_handshake(ssl)
            if rc == 1 {
                try flush(deadline: deadline)  // our last flight (and TLS 1.3's session tickets)
                if let kernelFilter { kernelTransmits = spindle_tls_ktls_filter_transmitting(kernelFilter) == 1 }
                state = .open
                return
            }
            let error = SSL_get_error(ssl, rc)
            if error == SSL_ERROR_WANT_READ {
                try flush(deadline: deadline)
                if try !receive(deadline: deadline) {
                    throw TLSError(.closedDuringHandshake, "the \(role.peer) closed the connection during the handshake")
                }
                continue
            }
            if error == SSL_ERROR_WANT_WRITE {
                // Only with kTLS: a record OpenSSL sends itself found the socket full.
                try flush(deadline: deadline)
                try Self.waitForRoom(until: deadline)
                continue
            }
            let reasons = openSSLErrors()
            try? flush(deadline: deadline)  // the alert that tells the peer why
            if role == .client, case let verdict = SSL_get_verify_result(ssl), verdict != X509_V_OK {
                let why = String(cString: X509_verify_cert_error_string(verdict))
                throw TLSError(.handshakeFailed, "the server's certificate was refused: \(why) (trust its CA with caCertificatesPath, or connect by a name the certificate lists)\(reasons)")
            }
            if peerClosed || error == SSL_ERROR_ZERO_RETURN {
                throw TLSError(.closedDuringHandshake, "the \(role.peer) closed the connection during the handshake\(reasons)")
            }
            throw TLSError(.handshakeFailed, "the handshake failed (SSL error \(error))\(reasons)")
        }
    }

    /// Reads up to `buffer.count` bytes of plaintext; returns 0 at the end of the stream (the
    /// peer's close_notify or its close). Parks while no record is complete. Throws
    /// `TLSError(.protocolError)` on a broken record, the connection's errors, `TimeoutError`
    /// when `deadline` passes, `CancellationError`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) throws -> Int {
        guard state == .open, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let count = Int32(clamping: buffer.count)
        while true {
            ERR_clear_error()
            let rc = SSL_read(ssl, base, count)
            if rc > 0 { return Int(rc) }
            let error = SSL_get_error(ssl, rc)
            switch error {
            case SSL_ERROR_WANT_READ:
                try flush(deadline: deadline)  // a post-handshake message may have an answer
                if peerClosed { return 0 }
                _ = try receive(deadline: deadline)
            case SSL_ERROR_WANT_WRITE:
                try flush(deadline: deadline)
            case SSL_ERROR_ZERO_RETURN:
                return 0
            default:
                throw TLSError(.protocolError, "reading a record failed (SSL error \(error))\(openSSLErrors())")
            }
        }
    }

    /// Encrypts and sends all of `bytes`, parking while the socket is full (and while another
    /// fiber writes to the stream: writes go out whole, one after the other). Throws
    /// `TLSError(.protocolError)`, the connection's errors, `TimeoutError` when `deadline`
    /// passes, `CancellationError`.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws {
        try outputLock.withLock { try writeLocked(bytes, deadline: deadline) }
    }

    private func writeLocked(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws {
        do {
            try writeRecords(bytes, deadline: deadline)
        } catch {
            writeFailed = true  // part of it may be out: no close_notify would make that look whole
            throw error
        }
    }

    private func writeRecords(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) throws {
        guard state == .open else { throw TLSError(.protocolError, "write on a TLS stream that is not open (handshake first; not after close)") }
        guard let base = bytes.baseAddress else { return }
        if kernelTransmits {
            // The kernel frames and encrypts: plaintext goes to the socket as it is, after what
            // OpenSSL wrote before (nothing, unless it answered a message since).
            try drain(deadline: deadline)
            try connection.write(bytes, deadline: deadline)
            return
        }
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Self.recordSize)
            ERR_clear_error()
            let rc = SSL_write(ssl, base + offset, Int32(chunk))
            if rc > 0 {
                offset += Int(rc)
                if BIO_ctrl_pending(outgoing) >= Self.sendThreshold { try drain(deadline: deadline) }
                continue
            }
            let error = SSL_get_error(ssl, rc)
            guard error == SSL_ERROR_WANT_WRITE else {
                throw TLSError(.protocolError, "writing a record failed (SSL error \(error))\(openSSLErrors())")
            }
            try drain(deadline: deadline)
        }
        try drain(deadline: deadline)
    }

    /// Sends close_notify (when the handshake completed) within `deadline`, then closes the
    /// connection. Parks at most until `deadline`; never throws (a peer already gone is fine).
    /// Idempotent.
    public func close(deadline: Deadline?) {
        guard state != .closed else { return }
        if state == .open && connection.isOpen && !writeFailed {
            if let kernelFilter {
                // With the kernel building records, OpenSSL sends close_notify itself (a typed
                // record): after everything queued before it, and while no send is in flight;
                // again while the socket is full, until the deadline.
                try? outputLock.withLock {
                    try drain(deadline: deadline)
                    while true {
                        spindle_tls_ktls_filter_set_direct(kernelFilter, 1)
                        ERR_clear_error()
                        let rc = SSL_shutdown(ssl)
                        spindle_tls_ktls_filter_set_direct(kernelFilter, 0)
                        try drain(deadline: deadline)
                        guard rc < 0, SSL_get_error(ssl, rc) == SSL_ERROR_WANT_WRITE else { break }
                        try Self.waitForRoom(until: deadline)
                    }
                }
            } else {
                ERR_clear_error()
                _ = SSL_shutdown(ssl)
                try? flush(deadline: deadline)
            }
            _ = openSSLErrors()
        }
        state = .closed
        connection.close()
    }

    /// The protocol ALPN chose ("http/1.1"), nil when the client offered none we speak.
    public var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// Who builds the records this stream sends: the kernel (kTLS) or OpenSSL, and why not the
    /// kernel. Known once the handshake is done (`.userSpace` before). Costs nothing.
    public var transmitRecords: TLSRecordBuilder {
        if kernelTransmits { return .kernel }
        guard let kernelFilter else {
            return .userSpace(reason: role == .client ? "the client does not hand records to the kernel" : "kTLS was not tried (\(KernelTLS.availability); or TLSConfiguration.kernelTLS is .never)")
        }
        if state == .handshaking { return .userSpace(reason: "the handshake is not done") }
        let refusal = spindle_tls_ktls_filter_refusal(kernelFilter)
        if refusal == EBUSY { return .userSpace(reason: "records encrypted in user space were still unsent when OpenSSL offered the keys") }
        if refusal != 0 { return .userSpace(reason: "the kernel refused the keys: \(Errno.name(refusal)) (\(String(cString: strerror(refusal))))") }
        return .userSpace(reason: "OpenSSL did not offer the keys (a cipher or version the kernel does not take, or an OpenSSL built without kTLS)")
    }

    /// The protocol version in use, e.g. "TLSv1.3".
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// True when the handshake resumed an earlier session (a ticket or the session cache).
    public var isResumed: Bool { SSL_session_reused(ssl) == 1 }

    /// The server name the client asked for (SNI), nil when it sent none.
    public var serverName: String? {
        SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    }

    /// Parks briefly before OpenSSL tries again a record it sends itself (kTLS) that found the
    /// socket full; throws `TimeoutError` once `deadline` has passed.
    private static func waitForRoom(until deadline: Deadline?) throws {
        if let deadline, Deadline.now >= deadline { throw TimeoutError() }
        try Fiber.sleep(for: .milliseconds(1))
    }

    /// Sends the ciphertext OpenSSL has queued, parking while the socket is full (and while
    /// another fiber of the stream sends).
    private func flush(deadline: Deadline?) throws {
        try outputLock.withLock { try drain(deadline: deadline) }
    }

    /// `flush` for the holder of `outputLock`.
    private func drain(deadline: Deadline?) throws {
        while true {
            let n = BIO_read(outgoing, writeScratch, Int32(Self.scratchSize))
            guard n > 0 else { return }
            try connection.write(UnsafeRawBufferPointer(start: writeScratch, count: Int(n)), deadline: deadline)
        }
    }

    /// Receives ciphertext from the connection (parking until some arrives) and hands it to
    /// OpenSSL. Returns false at the end of the stream (then OpenSSL sees its end too).
    private func receive(deadline: Deadline?) throws -> Bool {
        let n = try connection.read(into: UnsafeMutableRawBufferPointer(start: readScratch, count: Self.scratchSize), deadline: deadline)
        guard n > 0 else {
            peerClosed = true
            spindle_tls_bio_set_mem_eof_return(incoming, 0)
            return false
        }
        guard BIO_write(incoming, readScratch, Int32(n)) == Int32(n) else {
            throw TLSError(.protocolError, "OpenSSL could not buffer \(n) received bytes\(openSSLErrors())")
        }
        return true
    }
}
