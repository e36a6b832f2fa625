/// What an `Accept-Encoding` field allows (RFC 9110 §12.5.3), as far as `StaticFiles` needs:
/// whether a gzip-coded representation may be sent.
enum AcceptEncoding {
    /// True when `fieldValues` (one per field line) accept `gzip`: named (or as `x-gzip`) with
    /// a non-zero weight, or not named while `*` has a non-zero weight. No field at all: false
    /// (RFC 9110 allows any coding then, but clients that say nothing rarely decode gzip). A
    /// weight that is not a valid qvalue counts as 0. Never traps.
    static func allowsGzip(_ fieldValues: [String]) -> Bool {
        var gzipWeight: Bool? = nil
        var anyWeight: Bool? = nil
        for value in fieldValues {
            for member in value.split(separator: ",") {
                let parameters = member.split(separator: ";")
                guard let coding = parameters.first?.trimmingSpaces.lowercased(), !coding.isEmpty else { continue }
                var acceptable = true
                for parameter in parameters.dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    if pair.count == 2, pair[0].trimmingSpaces.lowercased() == "q" {
                        acceptable = isNonZeroWeight(pair[1].trimmingSpaces)
                    }
                }
                switch coding {
                case "gzip", "x-gzip": gzipWeight = (gzipWeight ?? false) || acceptable
                case "*": anyWeight = acceptable
                default: break
                }
            }
        }
        return gzipWeight ?? anyWeight ?? false
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, true when above zero.
    private static func isNonZeroWeight(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return false }
        if bytes.count == 1 { return first == UInt8(ascii: "1") }
        guard bytes[1] == UInt8(ascii: "."), bytes.count <= 5 else { return false }
        let decimals = bytes[2...]
        guard decimals.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
        if first == UInt8(ascii: "1") { return decimals.allSatisfy { $0 == UInt8(ascii: "0") } }
        return decimals.contains { $0 != UInt8(ascii: "0") }
    }
}
