/// WebSocket frame opcodes (RFC 6455 §5.2).
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Close, ping and pong: at most 125 bytes of payload, never fragmented.
    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// Close status codes (RFC 6455 §7.4.1) the server sends or checks.
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection is fulfilled.
    public static let normal = WebSocketCloseCode(rawValue: 1000)
    /// 1001: the server is going away (shutdown) or the peer stopped answering.
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    /// 1002: the peer broke the protocol (bad framing, unmasked client frame, …).
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    /// 1003: a data type the endpoint does not accept.
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// 1007: a text message that is not valid UTF-8.
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    /// 1008: a message that violates the endpoint's policy.
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    /// 1009: a message larger than the endpoint accepts.
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    /// 1011: the server met an unexpected condition (a handler error).
    public static let internalError = WebSocketCloseCode(rawValue: 1011)

    /// Whether a peer may send this code in a close frame (1000–1003, 1007–1011, 3000–4999).
    public var isValidOnTheWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }

    public var description: String { String(rawValue) }
}

/// A parsed frame header (RFC 6455 §5.2): what the payload after it is and how long.
public struct WebSocketFrameHeader: Sendable, Equatable {
    /// FIN: the last frame of a message.
    public let isFinal: Bool
    /// The frame's opcode.
    public let opcode: WebSocketOpcode
    /// The masking key, when the frame is masked (every client frame must be).
    public let maskingKey: (UInt8, UInt8, UInt8, UInt8)?
    /// Payload length in bytes.
    public let payloadLength: Int
    /// Bytes of the header itself (2 to 14).
    public let headerLength: Int

    /// A header with these fields (for tests and writers of frames).
    public init(isFinal: Bool, opcode: WebSocketOpcode, maskingKey: (UInt8, UInt8, UInt8, UInt8)?, payloadLength: Int, headerLength: Int) {
        self.isFinal = isFinal
        self.opcode = opcode
        self.maskingKey = maskingKey
        self.payloadLength = payloadLength
        self.headerLength = headerLength
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.isFinal == b.isFinal && a.opcode == b.opcode && a.payloadLength == b.payloadLength
            && a.headerLength == b.headerLength && a.maskingKey.map { [$0.0, $0.1, $0.2, $0.3] } == b.maskingKey.map { [$0.0, $0.1, $0.2, $0.3] }
    }
}

/// What `WebSocketFrameHeader.parse` found.
public enum WebSocketFrameParse: Sendable, Equatable {
    /// More bytes are needed for the header.
    case incomplete
    /// A valid header; the payload follows it.
    case header(WebSocketFrameHeader)
    /// The bytes break the protocol or a limit: close the connection with this code.
    case violation(WebSocketCloseCode, String)
}

extension WebSocketFrameHeader {
    /// Parses the header at the start of `bytes` as a server reads client frames: masked
    /// (`requireMask`), no reserved bits (no extension is negotiated), a known opcode, control
    /// frames final and at most 125 bytes, lengths in their minimal encoding and at most
    /// `maxPayload` (1009 beyond). Never traps; never allocates.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxPayload: Int, requireMask: Bool = true) -> WebSocketFrameParse {
        guard bytes.count >= 2 else { return .incomplete }
        let first = bytes[0], second = bytes[1]
        guard first & 0x70 == 0 else { return .violation(.protocolError, "reserved bits set without a negotiated extension") }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else {
            return .violation(.protocolError, "unknown opcode \(first & 0x0F)")
        }
        let isFinal = first & 0x80 != 0
        let masked = second & 0x80 != 0
        if requireMask && !masked { return .violation(.protocolError, "client frames must be masked") }
        var length = Int(second & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return .incomplete }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            guard length >= 126 else { return .violation(.protocolError, "length not in its minimal encoding") }
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return .incomplete }
            var value: UInt64 = 0
            for i in 2..<10 { value = value << 8 | UInt64(bytes[i]) }
            guard value >> 63 == 0 else { return .violation(.protocolError, "64-bit length with its top bit set") }
            guard value > 0xFFFF else { return .violation(.protocolError, "length not in its minimal encoding") }
            guard value <= UInt64(maxPayload) else { return .violation(.messageTooBig, "frame of \(value) bytes over the \(maxPayload)-byte limit") }
            length = Int(value)
            offset = 10
        }
        if opcode.isControl {
            guard isFinal else { return .violation(.protocolError, "fragmented control frame") }
            guard length <= 125 else { return .violation(.protocolError, "control frame over 125 bytes") }
        }
        guard length <= maxPayload else { return .violation(.messageTooBig, "frame of \(length) bytes over the \(maxPayload)-byte limit") }
        var key: (UInt8, UInt8, UInt8, UInt8)? = nil
        if masked {
            guard bytes.count >= offset + 4 else { return .incomplete }
            key = (bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3])
            offset += 4
        }
        return .header(WebSocketFrameHeader(isFinal: isFinal, opcode: opcode, maskingKey: key, payloadLength: length, headerLength: offset))
    }

    /// Unmasks `payload` in place; `position` is the offset of its first byte within the frame's
    /// payload (for a payload handled in pieces).
    public static func unmask(_ payload: UnsafeMutableRawBufferPointer, key: (UInt8, UInt8, UInt8, UInt8), position: Int = 0) {
        let k = [key.0, key.1, key.2, key.3]
        for i in 0..<payload.count { payload[i] ^= k[(position &+ i) & 3] }
    }

    /// Appends an unmasked (server) frame with `payload` to `buffer`. Cost: one copy of the payload.
    public static func write(opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, isFinal: Bool = true,
                             into buffer: inout HTTPOutputBuffer) {
        buffer.append(byte: (isFinal ? 0x80 : 0) | opcode.rawValue)
        let n = payload.count
        if n < 126 {
            buffer.append(byte: UInt8(n))
        } else if n <= 0xFFFF {
            buffer.append(byte: 126)
            buffer.append(byte: UInt8(n >> 8))
            buffer.append(byte: UInt8(n & 0xFF))
        } else {
            buffer.append(byte: 127)
            for shift in stride(from: 56, through: 0, by: -8) { buffer.append(byte: UInt8((UInt64(n) >> UInt64(shift)) & 0xFF)) }
        }
        buffer.append(payload)
    }
}

/// Validates UTF-8 incrementally, across the fragments of a text message (RFC 6455 §8.1: an
/// invalid sequence fails the connection with 1007 as soon as it is seen). A value type; no
/// allocation.
public struct UTF8Validator: Sendable {
    private var needed = 0          // continuation bytes still expected
    private var lower: UInt8 = 0x80 // allowed range of the next continuation byte
    private var upper: UInt8 = 0xBF

    /// A validator at the start of a message.
    public init() {}

    /// Feeds `bytes`; false at the first invalid byte (the state is then meaningless).
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes {
            if needed == 0 {
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: needed = 1
                case 0xE0: needed = 2; lower = 0xA0; continue
                case 0xE1...0xEC, 0xEE...0xEF: needed = 2
                case 0xED: needed = 2; upper = 0x9F; continue
                case 0xF0: needed = 3; lower = 0x90; continue
                case 0xF1...0xF3: needed = 3
                case 0xF4: needed = 3; upper = 0x8F; continue
                default: return false
                }
                lower = 0x80
                upper = 0xBF
            } else {
                guard byte >= lower && byte <= upper else { return false }
                needed -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// True when the bytes fed so far end on a character boundary (a complete message).
    public var isComplete: Bool { needed == 0 }
}
