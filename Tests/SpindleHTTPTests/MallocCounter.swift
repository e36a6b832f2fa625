// Counts calls to malloc and friends made by the calling thread, at the C level, whichever
// allocator serves them (mimalloc here).
//
// Why this way: mimalloc's release build keeps no per-call statistics, `mallinfo2()` only sees
// glibc's own arenas (it reports 0 under mimalloc), and the Swift runtime's `_swift_allocObject`
// hook (the "for Instruments only" swizzle flag) also reroutes every retain/release and crashed
// the runtime here. So the counter patches the dynamic linker's tables instead: for every loaded
// object (the test executable, libswiftCore, libFoundation, libc, libstdc++, …) the GOT slots
// that `malloc`, `calloc`, `realloc`, `posix_memalign`, `aligned_alloc` and `memalign` calls go
// through are pointed at counting wrappers that forward to the real functions. Swift's
// `swift_allocObject`/`swift_slowAlloc` call `malloc` through libswiftCore's slot, so object,
// String and Array allocations are counted too, as are C and C++ allocations. Only calls made on
// the counting thread are counted; other threads are forwarded untouched. The slots are
// restored afterwards. (mimalloc's own slots are left alone: its internal calls are not entry
// points.) x86_64/aarch64 Linux with glibc; `MallocCounter.count` returns nil elsewhere.
#if canImport(Glibc)
import Glibc

private typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
private typealias Calloc = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?
private typealias Realloc = @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer?
private typealias PosixMemalign = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int, Int) -> Int32
private typealias AlignedAlloc = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?

// nonisolated(unsafe): set by the counting thread before any slot points at the wrappers, and
// only read afterwards (other threads read them to forward).
nonisolated(unsafe) private var realMalloc: Malloc? = nil
nonisolated(unsafe) private var realCalloc: Calloc? = nil
nonisolated(unsafe) private var realRealloc: Realloc? = nil
nonisolated(unsafe) private var realPosixMemalign: PosixMemalign? = nil
nonisolated(unsafe) private var realAlignedAlloc: AlignedAlloc? = nil
nonisolated(unsafe) private var realMemalign: AlignedAlloc? = nil
nonisolated(unsafe) private var countingThread = pthread_self()
nonisolated(unsafe) private let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)

@inline(__always) private func note() {
    if pthread_equal(pthread_self(), countingThread) != 0 { counter.pointee += 1 }
}
private let countingMalloc: Malloc = { n in note(); return realMalloc!(n) }
private let countingCalloc: Calloc = { n, m in note(); return realCalloc!(n, m) }
private let countingRealloc: Realloc = { p, n in note(); return realRealloc!(p, n) }
private let countingPosixMemalign: PosixMemalign = { p, a, n in note(); return realPosixMemalign!(p, a, n) }
private let countingAlignedAlloc: AlignedAlloc = { a, n in note(); return realAlignedAlloc!(a, n) }
private let countingMemalign: AlignedAlloc = { a, n in note(); return realMemalign!(a, n) }

enum MallocCounter {
    /// Why counting cannot be trusted in this process, or nil. Under AddressSanitizer
    /// (`make test-asan`) ASan's malloc is linked into the test executable, whose instrumented
    /// code calls it directly, through no GOT slot: those calls would go uncounted.
    static var unavailableReason: String? {
        guard dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil else { return nil }
        return "under AddressSanitizer the test executable calls ASan's malloc directly, not through a GOT slot the counter can patch"
    }

    /// A GOT slot and the value it held.
    private struct Slot {
        let address: UnsafeMutableRawPointer
        let original: UnsafeRawPointer?
        let replacement: UnsafeRawPointer
    }

    /// Counts the allocation calls `body` makes on this thread. nil if the tables could not be
    /// found (then the caller must fail: a proof that cannot run must not pass).
    static func count(_ body: () -> Void) -> Int? {
        let rtldDefault = UnsafeMutableRawPointer(bitPattern: 0)
        func real<T>(_ name: String, _: T.Type) -> T? { dlsym(rtldDefault, name).map { unsafeBitCast($0, to: T.self) } }
        realMalloc = real("malloc", Malloc.self)
        realCalloc = real("calloc", Calloc.self)
        realRealloc = real("realloc", Realloc.self)
        realPosixMemalign = real("posix_memalign", PosixMemalign.self)
        realAlignedAlloc = real("aligned_alloc", AlignedAlloc.self)
        realMemalign = real("memalign", AlignedAlloc.self)
        let replacements: [String: UnsafeRawPointer] = [
            "malloc": unsafeBitCast(countingMalloc, to: UnsafeRawPointer.self),
            "calloc": unsafeBitCast(countingCalloc, to: UnsafeRawPointer.self),
            "realloc": unsafeBitCast(countingRealloc, to: UnsafeRawPointer.self),
            "posix_memalign": unsafeBitCast(countingPosixMemalign, to: UnsafeRawPointer.self),
            "aligned_alloc": unsafeBitCast(countingAlignedAlloc, to: UnsafeRawPointer.self),
            "memalign": unsafeBitCast(countingMemalign, to: UnsafeRawPointer.self),
        ]
        guard realMalloc != nil, let found = findSlots(replacements), !found.isEmpty else { return nil }
        // Patch and restore with plain loops over raw memory: in a debug build, iterating an
        // Array of structs goes through unspecialised generic code that itself allocates.
        let slots = UnsafeMutableBufferPointer<Slot>.allocate(capacity: found.count)
        defer { slots.deallocate() }
        _ = slots.initialize(from: found)
        let n = found.count
        countingThread = pthread_self()
        counter.pointee = 0
        var k = 0
        while k < n { slots[k].address.storeBytes(of: slots[k].replacement, as: UnsafeRawPointer.self); k += 1 }
        body()
        k = 0
        while k < n { slots[k].address.storeBytes(of: slots[k].original, as: UnsafeRawPointer?.self); k += 1 }
        return counter.pointee
    }

    /// Walks the dynamic linker's list of loaded objects (`_r_debug.r_map`) and, in each, the
    /// PLT (`DT_JMPREL`) and GLOB_DAT (`DT_RELA`) relocations naming one of `replacements`.
    /// Makes each slot's page writable (RELRO made it read-only).
    private static func findSlots(_ replacements: [String: UnsafeRawPointer]) -> [Slot]? {
        func load<T>(_ p: UnsafeRawPointer, _ offset: Int, _: T.Type) -> T { p.loadUnaligned(fromByteOffset: offset, as: T.self) }
        guard let debug = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "_r_debug") else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var slots: [Slot] = []
        // struct r_debug { int r_version; struct link_map *r_map; ... }
        var next = load(UnsafeRawPointer(debug), 8, UnsafeRawPointer?.self)
        while let map = next {
            // struct link_map { ElfW(Addr) l_addr; char *l_name; ElfW(Dyn) *l_ld; link_map *l_next, *l_prev; }
            let base = load(map, 0, UInt.self)
            let name = load(map, 8, UnsafePointer<CChar>?.self).map { String(cString: $0) } ?? ""
            next = load(map, 24, UnsafeRawPointer?.self)
            guard var dyn = load(map, 16, UnsafeRawPointer?.self), !name.contains("vdso"), !name.contains("mimalloc") else { continue }
            // glibc relocates these d_ptr values in place unless the dynamic section is read-only.
            func absolute(_ v: UInt) -> UInt { v >= base ? v : v &+ base }
            var symtab: UInt = 0, strtab: UInt = 0, jmprel: UInt = 0, pltSize = 0, rela: UInt = 0, relaSize = 0
            while case let tag = load(dyn, 0, Int64.self), tag != 0 {  // DT_NULL
                let value = load(dyn, 8, UInt.self)
                switch tag {
                case 2: pltSize = Int(value)  // DT_PLTRELSZ
                case 5: strtab = absolute(value)  // DT_STRTAB
                case 6: symtab = absolute(value)  // DT_SYMTAB
                case 7: rela = absolute(value)  // DT_RELA
                case 8: relaSize = Int(value)  // DT_RELASZ
                case 23: jmprel = absolute(value)  // DT_JMPREL
                default: break
                }
                dyn += 16  // sizeof(Elf64_Dyn)
            }
            guard symtab != 0, strtab != 0 else { continue }
            for (table, size) in [(jmprel, pltSize), (rela, relaSize)] where table != 0 {
                for k in 0..<(size / 24) {  // sizeof(Elf64_Rela)
                    let r = UnsafeRawPointer(bitPattern: table + UInt(k * 24))!
                    let info = load(r, 8, UInt64.self)
                    let type = info & 0xFFFF_FFFF
                    let symbol = Int(info >> 32)
                    // R_X86_64_GLOB_DAT 6, R_X86_64_JUMP_SLOT 7 (aarch64: 1025, 1026)
                    guard symbol != 0, type == 6 || type == 7 || type == 1025 || type == 1026 else { continue }
                    let sym = UnsafeRawPointer(bitPattern: symtab + UInt(symbol * 24))!  // sizeof(Elf64_Sym)
                    let symbolName = String(cString: UnsafePointer<CChar>(bitPattern: strtab + UInt(load(sym, 0, UInt32.self)))!)
                    guard let replacement = replacements[symbolName] else { continue }
                    let address = UnsafeMutableRawPointer(bitPattern: base &+ UInt(load(r, 0, UInt64.self)))!
                    let pageStart = UnsafeMutableRawPointer(bitPattern: Int(bitPattern: address) & ~(page - 1))!
                    guard mprotect(pageStart, page, PROT_READ | PROT_WRITE) == 0 else { return nil }
                    slots.append(Slot(address: address, original: address.load(as: UnsafeRawPointer?.self), replacement: replacement))
                }
            }
        }
        return slots
    }
}
#else
enum MallocCounter {
    static var unavailableReason: String? { nil }
    static func count(_ body: () -> Void) -> Int? { nil }
}
#endif
