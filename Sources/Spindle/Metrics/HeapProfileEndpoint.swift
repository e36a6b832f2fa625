import Foundation
import HTTPTypes
import SpindleIO
import SpindleMemory
import Synchronization

/// The `/_spindle/heap-profile` handler of the admin listener: a jemalloc heap profile written
/// on demand (Docs/observability.md, "Heap profiles"). Works when the process runs on jemalloc
/// with profiling (`make run-heap-profile`); otherwise answers 409 saying how to start it so.
package enum HeapProfileEndpoint {
    /// Profiles written by this process, numbering the files.
    private static let written = Atomic<Int>(0)

    /// A handler that writes a profile into the temporary directory (on the offload pool: the
    /// dump walks every sampled allocation and writes a file, which would stall a worker) and
    /// answers 200 with its bytes (`Content-Disposition` names the file; `X-Spindle-Heap-Profile`
    /// says where it stays on disk). 409 when profiling is off, 500 when the dump failed, 401
    /// without the right bearer `token`.
    static func handler(token: String?) -> Handler {
        { request, context in
            if let token, !MetricsEndpoint.authorized(request.header("authorization"), token: token) {
                throw HTTPError(.unauthorized, "a bearer token is required", headerFields: [.wwwAuthenticate: "Bearer realm=\"spindle\""])
            }
            guard Allocator.heapProfiling else {
                throw HTTPError(.conflict, HeapProfileError.profilingOff(allocator: Allocator.kind).description)
            }
            let number = written.add(1, ordering: .relaxed).newValue
            let name = "spindle-\(getpid())-\(number).heap"
            let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(name)
            let bytes = try context.offload { () throws -> [UInt8] in
                try Allocator.writeHeapProfile(to: path)
                return try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            }
            var response = Response.bytes(bytes, contentType: "application/octet-stream")
            response.headerFields[.contentDisposition] = "attachment; filename=\"\(name)\""
            response.headerFields[HTTPField.Name("X-Spindle-Heap-Profile")!] = path
            return response
        }
    }
}
