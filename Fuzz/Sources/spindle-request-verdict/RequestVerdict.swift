// The Spindle side of the differential run (Fuzz/differential.py): for each file named on the
// command line, the verdict of HTTPRequestParser and HTTPBodyDecoder on its bytes, one line
// per file, first request only:
//
//   accept <method> <target> <major>.<minor> <body length> <field count> <name>:<value> …
//   reject <reason>
//   incomplete-head | incomplete-body
//
// Method, target, names and values are written in hex (the bytes exactly as received).
// Default limits, as a server without SPINDLE_HTTP_* variables has.
import FuzzSupport
import SpindleHTTP

import Foundation

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2 + 1)
    for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
    return bytes.isEmpty ? "-" : String(decoding: out, as: UTF8.self)
}

func verdict(_ input: [UInt8]) -> String {
    let outcome = RequestStream.run([input[...]], maxRequests: 1)
    if let request = outcome.requests.first {
        let fields = request.fields.map { "\(hex($0.name)):\(hex($0.value))" }
        return (["accept", hex(request.method), hex(request.target), "\(request.version.major).\(request.version.minor)",
                 "\(request.body.count)", "\(request.fields.count)"] + fields).joined(separator: " ")
    }
    switch outcome.ending {
    case .idle, .incompleteHead: return "incomplete-head"
    case .incompleteBody: return "incomplete-body"
    case .error(let reason): return "reject \(reason)"
    }
}

@main
struct RequestVerdict {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("unreadable \(path)")
                continue
            }
            print(verdict(Array(data)))
        }
    }
}
