import SpindleHTTP

/// The conditional fields of a `GET`/`HEAD` for a file (RFC 9110 §13), evaluated against its
/// current validators: its entity tag and its modification time (whole seconds, as
/// `Last-Modified` says it).
struct ConditionalRequest {
    /// `If-None-Match`, when present.
    let ifNoneMatch: EntityTagCondition?
    /// `If-Modified-Since`, when present and a valid HTTP-date (else ignored, as RFC 9110 says).
    let ifModifiedSince: Int?
    /// `If-Range`, when present (an entity tag or an HTTP-date).
    let ifRange: String?

    /// True when the client's copy is current: `304 Not Modified`. `If-None-Match` wins: when
    /// present, `If-Modified-Since` is not looked at (RFC 9110 §13.2.2).
    func isNotModified(tag: EntityTag, modifiedAt modificationSeconds: Int) -> Bool {
        if let ifNoneMatch { return ifNoneMatch.matchesWeakly(tag) }
        if let ifModifiedSince { return modificationSeconds <= ifModifiedSince }
        return false
    }

    /// True when a `Range` may be honoured: no `If-Range`, or one naming the current
    /// representation — its entity tag by strong comparison, or exactly its `Last-Modified`
    /// date. Otherwise the whole representation is sent (RFC 9110 §13.1.5).
    func rangeApplies(tag: EntityTag, modifiedAt modificationSeconds: Int) -> Bool {
        guard let ifRange else { return true }
        let value = Substring(ifRange).trimmingSpaces
        if value.hasPrefix("\"") || value.hasPrefix("W/") {
            guard let (validator, rest) = EntityTagCondition.entityTag(at: value), rest.isEmpty else { return false }
            return validator.matchesStrongly(tag)
        }
        guard let date = HTTPDate.parse(value) else { return false }
        return date == modificationSeconds
    }
}
