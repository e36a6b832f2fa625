/// The outcome of one `HTTPRequestParser.parseHead` call.
public enum HTTPHeadParseResult {
    /// The head is not complete yet. Keep the bytes (the parser remembers how far it scanned)
    /// and call again with them plus whatever arrives next.
    case incomplete
    /// A complete head. Its first `consumed` bytes of the buffer are the head; the body (if
    /// `head.framing` says so) or the next pipelined request starts at `consumed`.
    case complete(HTTPRequestHead, consumed: Int)
    /// The request is invalid: answer `error.status` and close the connection.
    case error(HTTPParseError)
}

/// An incremental, zero-copy HTTP/1.1 request-head parser (RFC 9112), one per connection.
///
/// Feeding: pass the bytes received so far for the current head, starting at its first byte.
/// After `.incomplete`, call again with a buffer that starts with the *same* bytes (it may be at
/// another address, e.g. after the server compacted its receive buffer) followed by new ones.
/// The parser keeps resumable state (a state-machine position and the offsets found so far), so
/// each byte is scanned once however the input is split; nothing is re-parsed, except that a new
/// head is first tried straight through (HTTPRequestParser+WholeHead.swift) and, if it stops
/// short, the state machine re-reads the line it stopped in. After
/// `.complete`, the next call starts a new head (pass the bytes after `consumed`). After
/// `.error`, every call returns the same error until `reset()`: no resynchronisation.
///
/// Memory: `init` allocates the field table for `initialFieldCapacity` fields (16 bytes each);
/// a head with more fields doubles it, up to `limits.maxHeaderCount`, and the parser keeps the
/// larger table. Otherwise `parseHead` never allocates, never makes a String, and scans with a
/// byte-class table and eight-byte words (the target, field names and values). (A table sized
/// for the limit up front — 1.6 KiB at the default 100 — would be most of what a request parked
/// for minutes holds besides its stack.)
/// Heads it returns point into that table and into the caller's bytes (see `HTTPRequestHead`).
/// Not thread-safe; a parser belongs to one connection on one worker.
public struct HTTPRequestParser: ~Copyable {
    /// The limits this parser enforces.
    public let limits: HTTPLimits
    @usableFromInline var slots: UnsafeMutablePointer<FieldSlot>
    /// Fields the table holds now (grows by doubling, at most `limits.maxHeaderCount`).
    @usableFromInline var slotCapacity: Int
    @usableFromInline var state = ScanState()
    @usableFromInline var failure: HTTPParseError? = nil
    /// The last valid `Host` value of 8 to 16 bytes (see `ValidHostMemo`); kept across heads
    /// and `reset`, as it says only that those bytes are valid.
    var validHost = ValidHostMemo()
    /// `ByteClass.table`, read once by `init` so that a parse does not call its lazy
    /// initialisation check again. 8 bytes.
    let byteClasses = ByteClass.table

    /// Fields the table first holds (16 × 16 bytes): more than most clients send.
    public static let initialFieldCapacity = 16

    /// Creates a parser and allocates its field table (16 bytes × the smaller of
    /// `initialFieldCapacity` and `limits.maxHeaderCount`).
    public init(limits: HTTPLimits = .default) {
        self.limits = limits
        slotCapacity = min(Self.initialFieldCapacity, limits.maxHeaderCount)
        slots = UnsafeMutablePointer<FieldSlot>.allocate(capacity: slotCapacity)
    }

    /// Doubles the field table (at most to `limits.maxHeaderCount`), keeping the `fieldCount`
    /// fields of the head being scanned. Only while scanning: no head made before points into
    /// the old table any more (a parser's heads are valid until its next `parseHead`).
    /// Allocates; out of line.
    @inline(never)
    mutating func growSlots(keeping fieldCount: Int) {
        let capacity = min(slotCapacity * 2, limits.maxHeaderCount)
        let grown = UnsafeMutablePointer<FieldSlot>.allocate(capacity: capacity)
        grown.moveInitialize(from: slots, count: fieldCount)
        slots.deallocate()
        slots = grown
        slotCapacity = capacity
    }

    deinit { slots.deallocate() }

    /// Forgets any partial head and any error, for a new connection. Cost: two compares between
    /// heads; a few stores otherwise.
    public mutating func reset() {
        // Between heads the state is already fresh: `state.position` is 0 only then (a call that
        // stops inside a head leaves it past the head's first byte) or after an error.
        guard state.position != 0 || failure != nil else { return }
        state = ScanState()
        failure = nil
    }

    /// Bytes of the current, incomplete head already scanned (0 between heads). A server can
    /// tell "idle" from "half a request" with it when the peer closes. Cost: none.
    public var bytesScanned: Int { state.position }

    /// Parses the head at the start of `buffer`, resuming where the previous `.incomplete` call
    /// stopped. See the type's documentation for the feeding contract. Never allocates.
    public mutating func parseHead(_ buffer: UnsafeRawBufferPointer) -> HTTPHeadParseResult {
        if let failure { return .error(failure) }
        precondition(buffer.count >= state.position,
                     "HTTPRequestParser: the buffer shrank below the \(state.position) bytes already scanned; pass the head's bytes again from its first byte")
        guard let base = buffer.baseAddress, buffer.count > state.position else { return .incomplete }
        // A new head: try it straight through (see HTTPRequestParser+WholeHead.swift). It
        // returns nil, having handed over to the state machine, at the first thing it does not
        // decide by itself (the end of the bytes, anything unusual or invalid).
        if state.position == 0, let result = parseWholeHead(base, buffer.count) { return result }
        switch scan(base.assumingMemoryBound(to: UInt8.self), buffer.count) {
        case .incomplete:
            return .incomplete
        case .failed(let reason):
            let error = HTTPParseError(reason)
            failure = error
            return .error(error)
        case .complete(let consumed):
            let head = makeHead(base: base, length: consumed)
            state = ScanState()
            return .complete(head, consumed: consumed)
        }
    }
}

// MARK: - State

/// Where the scanner is within a head.
@usableFromInline
enum HeadPhase: UInt8 {
    case start, startLF, method, target, version, requestLineLF
    case lineStart, name, valueLeadingWhitespace, value, valueLF, endLF
}

/// Everything the scanner needs to resume, as offsets from the head's first byte.
@usableFromInline
struct ScanState {
    @usableFromInline var phase = HeadPhase.start
    @usableFromInline var position = 0
    var methodStart = 0, methodEnd = 0, targetStart = 0, targetEnd = 0, versionStart = 0
    /// The target's first `?` (-1: none seen yet).
    var question = -1
    var minor: UInt8 = 0
    var form = HTTPRequestTargetForm.origin
    var fieldsStart = 0
    var fieldCount = 0
    var nameStart = 0, nameEnd = 0, valueStart = 0, valueEnd = 0
    /// What the fields said so far (see HTTPRequestParser+Fields.swift).
    var facts = FieldFacts()
    @usableFromInline init() {}
}

@usableFromInline
enum ScanResult {
    case incomplete
    case complete(Int)
    case failed(HTTPParseError.Reason)
}

// MARK: - The scanner

extension HTTPRequestParser {
    /// The state machine. One pass over bytes `state.position..<end`; each state has a tight
    /// inner loop over the byte-class table and every loop is bounded by a limit, so no input
    /// makes it scan more than the limits allow. Byte-resumable: stopping anywhere and resuming
    /// with more bytes gives the same result as one call with all of them.
    @usableFromInline
    mutating func scan(_ p: UnsafePointer<UInt8>, _ end: Int) -> ScanResult {
        let table = byteClasses
        var i = state.position
        defer { state.position = i }
        while true {
            switch state.phase {
            case .start:
                guard i < end else { return .incomplete }
                let c = p[i]
                if c == ASCII.cr {
                    // RFC 9112 §2.2: ignore at least one empty line before the request line.
                    if i >= 16 { return .failed(.tooManyEmptyLines) }
                    i += 1
                    state.phase = .startLF
                } else if c == ASCII.lf {
                    return .failed(.bareLineFeed)
                } else {
                    state.methodStart = i
                    state.phase = .method
                }

            case .startLF:
                guard i < end else { return .incomplete }
                guard p[i] == ASCII.lf else { return .failed(.bareCarriageReturn) }
                i += 1
                state.phase = .start

            case .method:
                let stop = min(end, state.methodStart + HTTPLimits.maxMethodLength + 1)
                while i < stop && table[Int(p[i])] & ByteClass.token != 0 { i += 1 }
                if i - state.methodStart > HTTPLimits.maxMethodLength { return .failed(.methodTooLong) }
                guard i < end else { return .incomplete }
                guard p[i] == ASCII.sp, i > state.methodStart else { return .failed(.invalidMethod) }
                state.methodEnd = i
                i += 1
                state.targetStart = i
                state.phase = .target

            case .target:
                let stop = min(end, state.targetStart + limits.maxRequestTargetLength + 1)
                i = SWAR.skipTarget(p, i, stop, question: &state.question)
                while i < stop && table[Int(p[i])] & ByteClass.target != 0 {
                    if p[i] == ASCII.question && state.question < 0 { state.question = i }
                    i += 1
                }
                if i - state.targetStart > limits.maxRequestTargetLength { return .failed(.requestTargetTooLong) }
                guard i < end else { return .incomplete }
                guard p[i] == ASCII.sp, i > state.targetStart else {
                    return .failed(p[i] == ASCII.lf ? .bareLineFeed : .invalidRequestTarget)
                }
                state.targetEnd = i
                i += 1
                state.versionStart = i
                state.phase = .version

            case .version:
                // The common case in one load: `HTTP/1.` and a digit, then CR — what the loop and
                // `checkVersion` below accept for HTTP/1.x (the other cases go to them).
                if i == state.versionStart, i + 8 < end {
                    let word = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                    let digit = p[i + 7] &- ASCII.zero
                    if word & 0x00FF_FFFF_FFFF_FFFF == Self.http1Prefix, digit < 10, p[i + 8] == ASCII.cr {
                        state.minor = digit
                        i += 9
                        state.phase = .requestLineLF
                        continue
                    }
                }
                let stop = min(end, state.versionStart + 9)
                while i < stop && table[Int(p[i])] & ByteClass.visible != 0 { i += 1 }
                if i - state.versionStart > 8 { return .failed(.invalidVersion) }
                guard i < end else { return .incomplete }
                if p[i] == ASCII.lf { return .failed(.bareLineFeed) }
                guard p[i] == ASCII.cr else { return .failed(.invalidVersion) }
                if let failure = checkVersion(p + state.versionStart, i - state.versionStart) { return .failed(failure) }
                i += 1
                state.phase = .requestLineLF

            case .requestLineLF:
                guard i < end else { return .incomplete }
                guard p[i] == ASCII.lf else { return .failed(.bareCarriageReturn) }
                i += 1
                if let failure = Self.classifyTarget(p, methodStart: state.methodStart, methodEnd: state.methodEnd,
                                                     targetStart: state.targetStart, targetEnd: state.targetEnd,
                                                     form: &state.form) {
                    return .failed(failure)
                }
                state.fieldsStart = i
                state.phase = .lineStart

            case .lineStart:
                guard i < end else { return .incomplete }
                if i - state.fieldsStart >= limits.maxHeaderBytes { return .failed(.headerSectionTooLarge) }
                let c = p[i]
                if table[Int(c)] & ByteClass.token != 0 {
                    if state.fieldCount == limits.maxHeaderCount { return .failed(.tooManyFields) }
                    state.nameStart = i
                    i += 1
                    state.phase = .name
                } else if c == ASCII.cr {
                    i += 1
                    state.phase = .endLF
                } else if table[Int(c)] & ByteClass.whitespace != 0 {
                    return .failed(state.fieldCount == 0 ? .whitespaceBeforeFirstField : .lineFolding)
                } else {
                    return .failed(c == ASCII.lf ? .bareLineFeed : .invalidFieldName)
                }

            case .name:
                let limit = state.fieldsStart + limits.maxHeaderBytes
                let stop = min(end, limit)
                while i < stop && table[Int(p[i])] & ByteClass.token != 0 { i += 1 }
                guard i < end else { return .incomplete }
                if i >= limit { return .failed(.headerSectionTooLarge) }
                let c = p[i]
                guard c == ASCII.colon else {
                    if table[Int(c)] & ByteClass.whitespace != 0 { return .failed(.whitespaceBeforeColon) }
                    if c == ASCII.cr || c == ASCII.lf { return .failed(.missingColon) }
                    return .failed(.invalidFieldName)
                }
                state.nameEnd = i
                i += 1
                state.phase = .valueLeadingWhitespace

            case .valueLeadingWhitespace:
                let limit = state.fieldsStart + limits.maxHeaderBytes
                let stop = min(end, limit)
                while i < stop && table[Int(p[i])] & ByteClass.whitespace != 0 { i += 1 }
                guard i < end else { return .incomplete }
                if i >= limit { return .failed(.headerSectionTooLarge) }
                state.valueStart = i
                state.phase = .value

            case .value:
                let limit = state.fieldsStart + limits.maxHeaderBytes
                let stop = min(end, limit)
                i = SWAR.skipFieldValue(p, i, stop)
                while i < stop && table[Int(p[i])] & ByteClass.fieldValue != 0 { i += 1 }
                guard i < end else { return .incomplete }
                if i >= limit { return .failed(.headerSectionTooLarge) }
                let c = p[i]
                guard c == ASCII.cr else { return .failed(c == ASCII.lf ? .bareLineFeed : .invalidFieldValue) }
                var valueEnd = i
                while valueEnd > state.valueStart && table[Int(p[valueEnd - 1])] & ByteClass.whitespace != 0 {
                    valueEnd -= 1
                }
                state.valueEnd = valueEnd
                i += 1
                state.phase = .valueLF

            case .valueLF:
                guard i < end else { return .incomplete }
                if i - state.fieldsStart >= limits.maxHeaderBytes { return .failed(.headerSectionTooLarge) }
                guard p[i] == ASCII.lf else { return .failed(.bareCarriageReturn) }
                i += 1
                if state.fieldCount == slotCapacity { growSlots(keeping: state.fieldCount) }  // below maxHeaderCount: checked at the line's start
                slots[state.fieldCount] = FieldSlot(nameStart: state.nameStart, nameEnd: state.nameEnd,
                                                    valueStart: state.valueStart, valueEnd: state.valueEnd)
                state.fieldCount += 1
                if let failure = state.facts.noteField(p, table, nameStart: state.nameStart,
                                                       nameEnd: state.nameEnd, valueStart: state.valueStart,
                                                       valueEnd: state.valueEnd, validHost: &validHost) {
                    return .failed(failure)
                }
                state.phase = .lineStart

            case .endLF:
                guard i < end else { return .incomplete }
                if i - state.fieldsStart >= limits.maxHeaderBytes { return .failed(.headerSectionTooLarge) }
                guard p[i] == ASCII.lf else { return .failed(.bareCarriageReturn) }
                i += 1
                if let failure = state.facts.finishHead(minor: state.minor, limits: limits) { return .failed(failure) }
                return .complete(i)
            }
        }
    }

    /// `HTTP/1.` as a little-endian word's low seven bytes.
    static let http1Prefix: UInt64 = 0x2E31_2F50_5454_48  // ".1/PTTH"

    /// Checks `HTTP/DIGIT.DIGIT` (case-sensitive, RFC 9112 §2.3) and records the minor version.
    mutating func checkVersion(_ v: UnsafePointer<UInt8>, _ count: Int) -> HTTPParseError.Reason? {
        guard count == 8, v[0] == 0x48, v[1] == 0x54, v[2] == 0x54, v[3] == 0x50, v[4] == ASCII.slash,
              v[5] &- ASCII.zero < 10, v[6] == 0x2E, v[7] &- ASCII.zero < 10 else { return .invalidVersion }
        guard v[5] == 0x31 else { return .unsupportedVersion }
        state.minor = v[7] &- ASCII.zero
        return nil
    }

    /// The head the state machine found (its offsets are in `state`). Cost: a few loads and
    /// stores; no allocation.
    func makeHead(base: UnsafeRawPointer, length: Int) -> HTTPRequestHead {
        makeHead(base: base, length: length, fieldCount: state.fieldCount,
                 methodStart: state.methodStart, methodEnd: state.methodEnd,
                 targetStart: state.targetStart, targetEnd: state.targetEnd, question: state.question,
                 minor: state.minor, form: state.form, facts: state.facts)
    }

    /// A head from its parts: framing and persistence decided from `facts`. Cost: a few
    /// compares and stores; no allocation.
    @inline(__always)
    func makeHead(base: UnsafeRawPointer, length: Int, fieldCount: Int,
                  methodStart: Int, methodEnd: Int, targetStart: Int, targetEnd: Int, question: Int,
                  minor: UInt8, form: HTTPRequestTargetForm, facts: FieldFacts) -> HTTPRequestHead {
        let http11 = minor >= 1
        let keepAlive = !facts.connectionClose && (http11 || facts.connectionKeepAlive)
        let framing: HTTPBodyFraming = facts.transferEncoding.seen ? .chunked
            : (facts.contentLength >= 0 ? .contentLength(facts.contentLength) : .none)
        let hasHost = facts.hostCount == 1
        return HTTPRequestHead(
            base: base, slots: UnsafePointer(slots), length: length, fieldCount: fieldCount,
            methodStart: methodStart, methodEnd: methodEnd, targetStart: targetStart, targetEnd: targetEnd,
            queryStart: question, hostStart: hasHost ? facts.hostStart : -1, hostEnd: hasHost ? facts.hostEnd : -1,
            version: HTTPVersion(major: 1, minor: minor), targetForm: form, framing: framing,
            keepAlive: keepAlive, expectsContinue: http11 && facts.expectContinue)
    }
}
