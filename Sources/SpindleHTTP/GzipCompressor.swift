internal import CZlib

// The only file that calls zlib (module CZlib, Debian's zlib1g-dev). Its invariants:
//
//  - A `z_stream` never moves while it is initialised. zlib's internal state points back at
//    the stream it was initialised with and every call checks that pointer (`deflateStateCheck`
//    compares `state->strm` with its argument), so the stream is not a Swift value (which may be
//    copied or moved) but one heap allocation owned by a `GzipCompressor`, at the same address
//    from `deflateInit2_` to `deflateEnd`.
//  - An initialised stream is always ended: `deflateEnd` runs exactly once, in `deinit`, which
//    is the only place the allocation is freed. A stream whose `deflateInit2_` failed is not
//    initialised (zlib freed what it had taken) and is only deallocated, by `init` before it
//    throws, and before `self.stream` is set: a class `init` that throws once every stored
//    property is set runs `deinit`, which would end and free it a second time.
//  - `next_in`/`next_out` point into caller buffers only during the call that set them; they are
//    cleared before that call returns, so the stream never holds a pointer into memory that is
//    gone (zlib does not read them between calls, but a stale pointer is one bug away from use).
//  - Counts cross as `uInt` (32 bits): inputs are fed in pieces of at most `UInt32.max` bytes,
//    and the output window is at most `outputChunkCapacity` (< 4 GiB).

/// Compresses bytes into the gzip format (RFC 1952: a deflate stream with a gzip header and a
/// CRC-32 trailer; the `gzip` content coding of RFC 9110 §8.4.1.3) with zlib.
///
/// Use `compress(_:level:)` for a whole body in memory, or an instance for a body produced piece
/// by piece: `compress(_:flush:emit:)` for each piece, then once with `.finish`. One instance is
/// one gzip stream; it is not thread-safe (use it from one thread or fiber at a time). It does
/// not park: `emit` may (writing to a socket), and the compressor waits for it.
///
/// Cost: an instance allocates zlib's state (for the default window and memory level ~262 KiB:
/// the 32 KiB window twice, the chain and hash tables, the pending buffer, 64 KiB each) plus an
/// `outputChunkCapacity` output buffer on first use; `compress(_:level:)` sizes the window to
/// the input (~38 KiB for a 2 KiB body) and allocates the result once. Everything is freed with
/// the instance.
public final class GzipCompressor {
    /// How much of the compressed output a `compress` call must make available.
    public enum Flush: Sendable {
        /// Only what zlib has ready; it keeps the rest to compress better (`Z_NO_FLUSH`).
        case none
        /// Everything compressed so far, ending on a byte boundary, so a reader can decompress
        /// every byte given so far; costs 4–5 bytes per flush (`Z_SYNC_FLUSH`).
        case sync
        /// Everything, then the gzip trailer: the stream is complete (`Z_FINISH`). No call
        /// may follow.
        case finish
    }

    /// The compressed output is handed to `emit` in pieces of at most this many bytes.
    public let outputChunkCapacity: Int
    /// zlib's stream, at a fixed address while initialised (see the invariants above).
    private let stream: UnsafeMutablePointer<z_stream>
    /// The output window of the piece-by-piece path, allocated on first use.
    private var outputChunk: UnsafeMutablePointer<UInt8>? = nil
    /// True once `.finish` produced the trailer.
    public private(set) var isFinished = false

    /// A gzip stream at compression `level` (1 fastest … 9 smallest, 0 stores; zlib's default is 6) with
    /// a 32 KiB window. Throws `CompressionError` when zlib refuses (an invalid level, or no
    /// memory). Cost: allocates zlib's state (~262 KiB).
    public convenience init(level: Int = 6, outputChunkCapacity: Int = 16 << 10) throws {
        try self.init(level: level, windowBits: 15, memoryLevel: 8, outputChunkCapacity: outputChunkCapacity)
    }

    /// A gzip stream with the given deflate window (2^`windowBits` bytes, 9…15) and memory
    /// level (1…9; the hash table is 2^(`memoryLevel`+7) entries).
    init(level: Int, windowBits: Int, memoryLevel: Int, outputChunkCapacity: Int) throws {
        precondition(outputChunkCapacity > 0 && outputChunkCapacity <= Int(UInt32.max),
                     "GzipCompressor: outputChunkCapacity must be 1…\(UInt32.max); 16 KiB is a good size")
        // The stream is set up in a local and stored only once initialised: a throw before
        // `self.stream` is assigned does not run `deinit`, so nothing is ended or freed twice.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())  // zalloc, zfree, opaque nil: zlib uses malloc/free
        guard (0...9).contains(level), (9...15).contains(windowBits), (1...9).contains(memoryLevel) else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw CompressionError(operation: "deflateInit2", code: Z_STREAM_ERROR, zlibMessage: nil,
                                   detail: "level \(level), windowBits \(windowBits), memoryLevel \(memoryLevel)")
        }
        // windowBits + 16: write a gzip header and trailer instead of zlib's.
        let result = deflateInit2_(stream, Int32(level), Z_DEFLATED, Int32(windowBits + 16), Int32(memoryLevel),
                                   Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard result == Z_OK else {
            let error = CompressionError(operation: "deflateInit2", code: result, zlibMessage: Self.message(of: stream))
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw error
        }
        self.stream = stream
        self.outputChunkCapacity = outputChunkCapacity
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        outputChunk?.deallocate()
    }

    /// Compresses `input` and hands the compressed bytes made available by `flush` to `emit`,
    /// in pieces of at most `outputChunkCapacity` bytes (each valid only during its call).
    /// `.finish` ends the stream (the gzip trailer included); a call after it throws. Rethrows
    /// what `emit` throws, leaving the stream unusable. Cost: no allocation after the first
    /// call (the output window); the CPU of deflate.
    public func compress(_ input: UnsafeRawBufferPointer, flush: Flush,
                         emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !isFinished else {
            throw CompressionError(operation: "deflate", code: Z_STREAM_ERROR, zlibMessage: nil, detail: "the stream is finished")
        }
        let output = outputChunk ?? {
            let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: outputChunkCapacity)
            outputChunk = chunk
            return chunk
        }()
        defer { clearBufferPointers() }
        var remaining = input
        repeat {
            let piece = min(remaining.count, Int(UInt32.max))
            let last = piece == remaining.count
            stream.pointee.next_in = piece == 0 ? nil : UnsafeMutablePointer(mutating: remaining.baseAddress!.assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = UInt32(piece)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[piece...])
            // Earlier pieces of an oversized input are only compressed; the flush applies at the end.
            let mode = last ? flush.zlibValue : Z_NO_FLUSH
            while true {
                stream.pointee.next_out = output
                stream.pointee.avail_out = UInt32(outputChunkCapacity)
                let result = deflate(stream, mode)
                let produced = outputChunkCapacity - Int(stream.pointee.avail_out)
                guard result == Z_OK || result == Z_STREAM_END || result == Z_BUF_ERROR else {
                    throw CompressionError(operation: "deflate", code: result, zlibMessage: Self.message(of: stream))
                }
                if produced > 0 { try emit(UnsafeRawBufferPointer(start: output, count: produced)) }
                if result == Z_STREAM_END { isFinished = true; break }
                // A full window means zlib may have more to give for this mode; otherwise the
                // input is consumed and the flush done (Z_BUF_ERROR: nothing left to do).
                if stream.pointee.avail_out != 0 && mode != Z_FINISH { break }
                if result == Z_BUF_ERROR && produced == 0 {
                    guard mode != Z_FINISH else {
                        throw CompressionError(operation: "deflate", code: result, zlibMessage: Self.message(of: stream),
                                               detail: "no progress while finishing")
                    }
                    break
                }
            }
        } while !remaining.isEmpty
    }

    /// `input` compressed into one complete gzip stream at `level` (0…9). The deflate window
    /// is sized to the input, as nginx does (a 2 KiB body gets a 4 KiB window and a 4,096-entry
    /// hash table instead of 32 KiB and 32,768 entries: ~38 KiB of state instead of ~262 KiB),
    /// which compresses as well, since the whole input fits in the window, and allocates less.
    /// Throws `CompressionError` when zlib refuses. Cost: zlib's state for that window, and the
    /// result, allocated once at zlib's bound for the input (a few bytes over its size).
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int = 6) throws -> [UInt8] {
        var windowBits = 15
        var memoryLevel = 8
        // While the input fits in half the next smaller window (minus deflate's lookahead of 262).
        while windowBits > 9 && input.count < (1 << (windowBits - 1)) - 262 {
            windowBits -= 1
            memoryLevel = max(memoryLevel - 1, 1)
        }
        let compressor = try GzipCompressor(level: level, windowBits: windowBits, memoryLevel: memoryLevel,
                                            outputChunkCapacity: 16 << 10)
        let bound = Int(deflateBound(compressor.stream, UInt(input.count)))
        guard input.count <= Int(UInt32.max), bound <= Int(UInt32.max) else {
            var result: [UInt8] = []
            try compressor.compress(input, flush: .finish) { result.append(contentsOf: $0) }
            return result
        }
        // After deflateInit, with at least deflateBound bytes of output, one Z_FINISH call completes.
        return try [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            count = 0
            try compressor.finishInOneCall(input, into: UnsafeMutableRawBufferPointer(buffer), count: &count)
        }
    }

    /// One `deflate(Z_FINISH)` of all of `input` into `output`, which holds at least
    /// `deflateBound` bytes (the caller checked both fit in 32 bits).
    private func finishInOneCall(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, count: inout Int) throws {
        defer { clearBufferPointers() }
        stream.pointee.next_in = input.isEmpty ? nil : UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(output.count)
        let result = deflate(stream, Z_FINISH)
        guard result == Z_STREAM_END else {
            throw CompressionError(operation: "deflate", code: result, zlibMessage: Self.message(of: stream),
                                   detail: "one call did not finish within deflateBound")
        }
        isFinished = true
        count = output.count - Int(stream.pointee.avail_out)
    }

    private func clearBufferPointers() {
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        stream.pointee.next_out = nil
        stream.pointee.avail_out = 0
    }

    private static func message(of stream: UnsafeMutablePointer<z_stream>) -> String? {
        stream.pointee.msg.map { String(cString: $0) }
    }
}

extension GzipCompressor.Flush {
    var zlibValue: Int32 {
        switch self {
        case .none: Z_NO_FLUSH
        case .sync: Z_SYNC_FLUSH
        case .finish: Z_FINISH
        }
    }
}

/// zlib refused or failed: the call, its return code (`Z_MEM_ERROR` is -4, `Z_STREAM_ERROR`
/// -2, …) and zlib's message when it gave one.
public struct CompressionError: Error, Sendable, CustomStringConvertible {
    /// The zlib function (`deflateInit2`, `deflate`).
    public let operation: String
    /// zlib's return code.
    public let code: Int32
    /// zlib's message (`z_stream.msg`), or nil.
    public let zlibMessage: String?
    /// What Spindle adds (the arguments refused, the state), or nil.
    public let detail: String?

    init(operation: String, code: Int32, zlibMessage: String?, detail: String? = nil) {
        self.operation = operation
        self.code = code
        self.zlibMessage = zlibMessage
        self.detail = detail
    }

    /// `deflate failed: Z_STREAM_ERROR (-2): …`.
    public var description: String {
        let name = switch code {
        case Z_STREAM_ERROR: "Z_STREAM_ERROR"
        case Z_DATA_ERROR: "Z_DATA_ERROR"
        case Z_MEM_ERROR: "Z_MEM_ERROR"
        case Z_BUF_ERROR: "Z_BUF_ERROR"
        case Z_VERSION_ERROR: "Z_VERSION_ERROR"
        default: "zlib error"
        }
        return "\(operation) failed: \(name) (\(code))" + [zlibMessage, detail].compactMap { $0.map { ": " + $0 } }.joined()
    }
}
