import CHeapTuning

/// How the tunnel daemon asks glibc's allocator to treat the buffers of its data path.
///
/// A bulk flow allocates and frees buffers of 64 KiB to 1 MiB for every batch, at every layer (TLS records read
/// into a fresh buffer, frames gathered, DATA payloads, decoded bytes). glibc maps buffers above its mmap
/// threshold (128 KiB at first) from the system and unmaps them when freed, and trims its heap once more than
/// twice that is free at the top: either way the next buffer comes back as fresh pages, which fault in one by one,
/// zeroed, and cold in the cache. On a loopback bulk transfer that costs the server about a tenth of its CPU per
/// byte (docs/PROTOCOL.md). The daemon therefore keeps buffers up to 2 MiB on the heap and lets up to 8 MiB stay
/// free at its top, so a batch reuses the memory the previous one just freed.
///
/// An operator's own `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` wins: nothing is changed when either is
/// set. Other C libraries are left alone.
enum HeapTuning {
    /// Allocations up to this size come from the heap.
    static let mmapThreshold: Int32 = 2 << 20
    /// Free memory at the top of the heap kept for reuse.
    static let trimThreshold: Int32 = 8 << 20

    /// Applies the thresholds unless the environment sets either; returns whether it did.
    @discardableResult
    static func apply(environment: [String: String]) -> Bool {
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil, environment["MALLOC_TRIM_THRESHOLD_"] == nil else {
            return false
        }
        return CHeapTuning_setMmapThreshold(mmapThreshold) == 1 && CHeapTuning_setTrimThreshold(trimThreshold) == 1
    }
}
