import NIOCore

/// A `ByteBuffer` refilled for each batch of a bulk flow, whose storage is reused once nobody else holds it.
///
/// A batch handed to the channel (or to the pool) is a copy of this buffer sharing its storage. By the time the
/// next batch is filled the socket has usually taken the previous one and let go of it, so ``fill(_:)`` writes
/// into the same memory: a bulk flow allocates no fresh buffer per batch, and so faults in no fresh pages (glibc
/// gives a freed buffer of this size back to the system and takes it again, page by page, on the next one). A
/// batch still held elsewhere is never overwritten: `ByteBuffer` is copy-on-write, so ``fill(_:)`` then starts a
/// new storage and the old one lives on with its holder.
///
/// Not thread-safe: fill it from one thread at a time (the copies it returns may travel anywhere).
struct RecycledBuffer {
    private var buffer = ByteBuffer()
    /// Storage above this capacity is not kept between batches.
    private let keepLimit: Int

    /// - Parameter keepLimit: the largest capacity kept for the next batch (a larger one is let go).
    init(keepLimit: Int = 1 << 20) {
        self.keepLimit = keepLimit
    }

    /// Returns a buffer holding exactly `bytes`, in the storage of the previous batch when it is free.
    mutating func fill(_ bytes: UnsafeRawBufferPointer) -> ByteBuffer {
        buffer.clear()
        buffer.writeBytes(bytes)
        let filled = buffer
        if buffer.capacity > keepLimit { buffer = ByteBuffer() }
        return filled
    }
}
