import SpindleHTTP

extension Request {
    /// The values of every field line named `lowercaseName` (a list field may come on several
    /// lines), in order. Allocates the strings.
    func fieldValues(_ lowercaseName: StaticString) -> [String] {
        var values: [String] = []
        for field in head.fields where field.hasName(lowercaseName) { values.append(field.valueString) }
        return values
    }
}
