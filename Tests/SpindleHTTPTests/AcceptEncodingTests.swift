// Accept-Encoding: codings, weights, `*`, identity, and members that are dropped.
import SpindleHTTP
import XCTest

final class AcceptEncodingTests: XCTestCase {
    func testGzipPreferenceTable() {
        let cases: [(fields: [String], prefersGzip: Bool, gzipQuality: Int?, note: String)] = [
            (["gzip"], true, 1000, "plain"),
            (["gzip, deflate, br"], true, 1000, "a list"),
            (["deflate", "gzip"], true, 1000, "several field lines"),
            (["GZip"], true, 1000, "codings ignore case"),
            (["x-gzip"], true, 1000, "x-gzip is gzip"),
            (["gzip;q=0"], false, 0, "q=0 refuses"),
            (["gzip; q=0.000"], false, 0, "q=0.000 refuses"),
            (["gzip;Q=0"], false, 0, "Q is q"),
            (["gzip;q=0.5"], true, 500, "a lower weight still accepts"),
            (["gzip ; q=0.8 "], true, 800, "whitespace around ; and the member"),
            (["gzip;q=1.000"], true, 1000, "three decimals"),
            (["gzip;q=0.001"], true, 1, "the smallest weight"),
            (["*"], true, 1000, "* accepts gzip"),
            (["br, *;q=0.1"], true, 100, "* with a weight"),
            (["*;q=0"], false, 0, "*;q=0 refuses"),
            (["*, gzip;q=0"], false, 0, "an explicit gzip;q=0 beats *"),
            (["gzip;q=0, *"], false, 0, "in either order"),
            (["x-gzip;q=0, *"], false, 0, "x-gzip;q=0 beats * too"),
            (["gzip, x-gzip;q=0"], true, 1000, "gzip's own member beats its alias"),
            ([""], false, nil, "an empty field: identity only"),
            (["identity"], false, nil, "identity only"),
            (["br, deflate"], false, nil, "other codings only"),
            (["gzip;q=0.5, identity;q=1"], false, 500, "identity preferred"),
            (["gzip;q=1, identity;q=0.5"], true, 1000, "gzip preferred"),
            (["gzip;q=0.5, identity;q=0.5"], true, 500, "a tie goes to gzip"),
            (["gzip;q=1.5"], false, nil, "a weight over 1 drops the member"),
            (["gzip;q=0.1234"], false, nil, "four decimals drop the member"),
            (["gzip;q=abc"], false, nil, "a weight that is not a number"),
            (["gzip;q="], false, nil, "an empty weight"),
            (["gzip;q=.5"], false, nil, "no leading digit"),
            (["gzip;q=1.5, *;q=0.3"], true, 300, "the dropped member leaves * to decide"),
            (["gz ip"], false, nil, "a coding that is not a token"),
            ([" , ,gzip,"], true, 1000, "empty members"),
            (["gzip;level=9"], true, 1000, "other parameters are ignored"),
            ([";q=1"], false, nil, "a weight without a coding"),
        ]
        for (fields, prefersGzip, gzipQuality, note) in cases {
            let accept = AcceptEncoding(fieldValues: fields)
            XCTAssertEqual(accept.prefersGzip, prefersGzip, "\(note): \(fields)")
            XCTAssertEqual(accept.quality(of: "gzip"), gzipQuality, "\(note): \(fields)")
        }
    }

    func testEntriesKeepOrderAndLowercase() {
        let accept = AcceptEncoding(fieldValues: ["BR;q=0.9, Gzip", "*;q=0"])
        XCTAssertEqual(accept.entries, [.init(coding: "br", quality: 900), .init(coding: "gzip", quality: 1000),
                                        .init(coding: "*", quality: 0)])
        XCTAssertEqual(accept.quality(of: "deflate"), 0, "unlisted codings take *'s weight")
    }
}
