import SpindleHTTP

/// One request as the parser and the body decoder reported it, copied into byte arrays that
/// can be compared. Allocates.
public struct ParsedRequest: Equatable, Sendable {
    /// The method's bytes.
    public var method: [UInt8]
    /// The request-target's bytes.
    public var target: [UInt8]
    /// The HTTP version.
    public var version: HTTPVersion
    /// The form of the target.
    public var form: HTTPRequestTargetForm
    /// The fields as (name, value) bytes, in received order and case.
    public var fields: [Field]
    /// How the body is delimited.
    public var framing: HTTPBodyFraming
    /// Whether the connection stays open after this request.
    public var keepAlive: Bool
    /// Bytes of the head.
    public var headLength: Int
    /// The decoded body.
    public var body: [UInt8] = []

    /// A field line's name and value bytes.
    public struct Field: Equatable, Sendable {
        /// The name as received.
        public var name: [UInt8]
        /// The value, without surrounding whitespace.
        public var value: [UInt8]
    }

    init(_ head: HTTPRequestHead) {
        method = Array(head.methodBytes)
        target = Array(head.targetBytes)
        version = head.version
        form = head.targetForm
        fields = head.fields.map { Field(name: Array($0.name), value: Array($0.value)) }
        framing = head.framing
        keepAlive = head.keepAlive
        headLength = head.length
    }
}

/// How a byte stream ended after the requests it held.
public enum StreamEnding: Equatable, Sendable {
    /// Between requests: nothing pending.
    case idle
    /// Part of a head was received.
    case incompleteHead
    /// A head was complete, its body is not.
    case incompleteBody
    /// The parser or the body decoder rejected the stream.
    case error(HTTPParseError.Reason)
}

/// Everything a stream of bytes produced: the requests, then how it ended.
public struct StreamOutcome: Equatable, Sendable {
    /// The complete requests, in order.
    public var requests: [ParsedRequest] = []
    /// What the stream was in when the bytes ran out (or the error that ended it).
    public var ending: StreamEnding = .idle
}

/// Plays the server's part over a request byte stream delivered in pieces: keeps unconsumed
/// bytes, hands the parser the incomplete head again (copied to a fresh array each time, as a
/// server compacting its buffer would), feeds body bytes to `HTTPBodyDecoder`. Checks the
/// parser's contracts on the way (`invariant`). Allocates freely: a test harness.
public enum RequestStream {
    /// The outcome of feeding `pieces` one after another, stopping after `maxRequests` requests.
    /// Traps (through `invariant`) when the parser breaks its contract. Allocates.
    public static func run(_ pieces: [ArraySlice<UInt8>], limits: HTTPLimits = .default, maxRequests: Int = .max) -> StreamOutcome {
        var parser = HTTPRequestParser(limits: limits)
        var pending: [UInt8] = []
        var decoder: HTTPBodyDecoder? = nil
        var current: ParsedRequest? = nil
        var outcome = StreamOutcome()
        for piece in pieces {
            pending.append(contentsOf: piece)
            feeding: while true {
                if decoder == nil {
                    if outcome.requests.count >= maxRequests { return outcome }
                    let copy = pending  // a new buffer: the parser must keep offsets, not pointers
                    enum Step { case incomplete, error(HTTPParseError), complete(ParsedRequest, Int) }
                    let step: Step = copy.withUnsafeBytes { buffer in
                        switch parser.parseHead(buffer) {
                        case .incomplete: return .incomplete
                        case .error(let error): return .error(error)
                        case .complete(let head, let consumed): return .complete(ParsedRequest(head), consumed)
                        }
                    }
                    switch step {
                    case .incomplete:
                        break feeding
                    case .error(let error):
                        invariant(error.closesConnection, "a head error must close the connection")
                        invariant((400...599).contains(error.status.code), "head error status \(error.status.code)")
                        outcome.ending = .error(error.reason)
                        return outcome
                    case .complete(let request, let consumed):
                        invariant(request.headLength == consumed, "head length \(request.headLength) != consumed \(consumed)")
                        invariant(consumed > 0 && consumed <= pending.count, "consumed \(consumed) of \(pending.count)")
                        invariant(!request.method.isEmpty && !request.target.isEmpty, "empty method or target")
                        invariant(request.fields.count <= limits.maxHeaderCount, "more fields than the limit")
                        invariant(consumed <= limits.maxHeadLength, "head of \(consumed) bytes over the limit \(limits.maxHeadLength)")
                        if case .contentLength(let length) = request.framing {
                            invariant(length >= 0 && !limits.bodyExceeds(length), "content length \(length)")
                        }
                        pending.removeFirst(consumed)
                        current = request
                        decoder = HTTPBodyDecoder(framing: request.framing, limits: limits)
                    }
                }
                let event = pending.withUnsafeBytes { decoder!.decode($0) }
                switch event {
                case .data(let range):
                    invariant(!range.isEmpty && range.upperBound <= pending.count, "data range \(range) of \(pending.count)")
                    current!.body += pending[range]
                    pending.removeFirst(range.upperBound)
                case .needMore:
                    pending.removeAll()
                    break feeding
                case .end(let consumed):
                    invariant(consumed >= 0 && consumed <= pending.count, "end consumed \(consumed) of \(pending.count)")
                    pending.removeFirst(consumed)
                    if case .contentLength(let length) = current!.framing {
                        invariant(current!.body.count == length, "body of \(current!.body.count) bytes, Content-Length \(length)")
                    }
                    invariant(!limits.bodyExceeds(current!.body.count), "body over the limit")
                    outcome.requests.append(current!)
                    current = nil
                    decoder = nil
                case .error(let error):
                    outcome.ending = .error(error.reason)
                    return outcome
                }
            }
        }
        if decoder != nil { outcome.ending = .incompleteBody }
        else if parser.bytesScanned > 0 || !pending.isEmpty { outcome.ending = .incompleteHead }
        return outcome
    }
}
