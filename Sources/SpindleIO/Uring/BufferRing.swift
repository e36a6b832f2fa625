internal import CSpindle
import SpindleMemory
#if canImport(Glibc)
import Glibc
#endif

/// A provided-buffer ring (io_uring buffer group): receive buffers owned by the worker and
/// picked by the kernel only when data arrives, so a connection waiting to read pins no buffer
/// of its own. Buffers are slab-allocated in one mapping at worker start (seed: "slab buffers
/// for I/O", "pools preallocated at worker start").
package final class BufferRing {
    /// Sizes of the ring. Defaults: 1,024 buffers of 16 KiB (16 MiB of address space per worker,
    /// committed as used).
    package struct Configuration: Sendable {
        package var count: Int = 1024
        package var size: Int = 16 << 10
        package var group: UInt16 = 1
    }

    package let configuration: Configuration
    private let ring: UnsafeMutablePointer<io_uring>
    private let control: UnsafeMutablePointer<io_uring_buf_ring>
    private let controlBytes: Int
    private let memory: UnsafeMutableRawPointer
    private let mask: Int32
    /// Receives that found the ring empty (`-ENOBUFS`) and fell back to the caller's buffer.
    @exclusivity(unchecked) var exhaustedCount = 0

    init(ring: Ring, configuration: Configuration) throws {
        misusePrecondition(configuration.count > 0 && configuration.count & (configuration.count - 1) == 0 && configuration.count <= 32768,
                     "BufferRing: count must be a power of two up to 32768")
        self.configuration = configuration
        self.ring = ring.ring
        controlBytes = configuration.count * MemoryLayout<io_uring_buf>.stride
        let control = try VirtualMemory.reserve(controlBytes)
        self.control = control.bindMemory(to: io_uring_buf_ring.self, capacity: 1)
        let bytes = configuration.count * configuration.size
        let memory: UnsafeMutableRawPointer
        do { memory = try VirtualMemory.reserve(bytes) } catch {
            VirtualMemory.release(control, controlBytes)
            throw error
        }
        self.memory = memory
        mask = io_uring_buf_ring_mask(UInt32(configuration.count))
        io_uring_buf_ring_init(self.control)
        var registration = io_uring_buf_reg()
        registration.ring_addr = UInt64(UInt(bitPattern: control))
        registration.ring_entries = UInt32(configuration.count)
        registration.bgid = configuration.group
        let rc = io_uring_register_buf_ring(ring.ring, &registration, 0)
        if rc < 0 {
            VirtualMemory.release(control, controlBytes)
            VirtualMemory.release(memory, bytes)
            throw IOError("io_uring_register_buf_ring", errno: -rc)
        }
        for id in 0..<configuration.count { add(UInt16(id), offset: Int32(id)) }
        io_uring_buf_ring_advance(self.control, Int32(configuration.count))
    }

    deinit {
        _ = io_uring_unregister_buf_ring(ring, Int32(configuration.group))
        VirtualMemory.release(UnsafeMutableRawPointer(control), controlBytes)
        VirtualMemory.release(memory, configuration.count * configuration.size)
    }

    /// The bytes of buffer `id`.
    package func bytes(_ id: UInt16) -> UnsafeMutableRawPointer { memory + Int(id) * configuration.size }

    private func add(_ id: UInt16, offset: Int32) {
        io_uring_buf_ring_add(control, bytes(id), UInt32(configuration.size), id, mask, offset)
    }

    /// Gives buffer `id` back to the kernel.
    package func recycle(_ id: UInt16) {
        add(id, offset: 0)
        io_uring_buf_ring_advance(control, 1)
    }
}
