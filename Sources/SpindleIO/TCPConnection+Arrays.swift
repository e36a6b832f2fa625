// Reading into arrays, for callers written in safe Swift (the HTTP client): the array's bytes
// are lent to the parking receive for one call.
import SpindleFibers
import SpindleMemory

extension TCPConnection {
    /// Reads up to `bytes.count - offset` bytes into `bytes[offset...]`, parking the fiber
    /// (never the thread) until some arrive; returns how many (0 at end of stream). The array
    /// is not resized: size it first. Deadline, cancellation and errors as `read(into:)`.
    /// Cost: no allocation (the array must be uniquely referenced, or it is copied once).
    public func read(into bytes: inout [UInt8], from offset: Int, deadline: Deadline? = nil) throws -> Int {
        misusePrecondition(offset >= 0 && offset <= bytes.count,
                           "TCPConnection.read(into:from:): offset \(offset) is outside the array's 0...\(bytes.count)")
        return try bytes.withUnsafeMutableBytes { buffer in
            try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]), deadline: deadline)
        }
    }
}
