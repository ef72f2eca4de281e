/// Reads chunks by fingerprint: what a decoder needs from a store.
///
/// A store must never return bytes that do not match the fingerprint asked for: a store that cannot vouch for
/// a chunk (a failed checksum, a torn record) reports it as missing.
public protocol ChunkReading: AnyObject, Sendable {
    /// The store's identity, recorded in the header of store-backed streams.
    var storeID: StoreID { get }

    /// Whether the store holds the chunk. A `true` is a promise that ``get(_:)`` will find it unless it is
    /// evicted or found damaged in between.
    func contains(_ fingerprint: Fingerprint) -> Bool

    /// The chunk's bytes, or `nil` when the store does not hold it (or holds it damaged).
    /// - Throws: ``ChunkStoreError`` on an I/O failure.
    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]?

    /// The chunk that was stored right after this one, if the store remembers it.
    ///
    /// An edited chunk usually replaces the chunk that followed the unchanged chunks around it, so the encoder
    /// uses successors of the chunks it references as a compression prefix for new chunks (see
    /// `docs/FORMAT.md`, codec 3). A store that keeps no order returns `nil`; that only costs ratio.
    func successor(of fingerprint: Fingerprint) -> Fingerprint?

    /// Whether a call may wait on I/O (a disk, a network) rather than only compute and lock memory.
    ///
    /// A caller that must never block, such as an event loop, calls a store that blocks from a thread pool, and
    /// may call one that does not directly, saving the hops. `true` unless a store says otherwise, so a store
    /// that does not say is kept off such threads.
    var performsBlockingIO: Bool { get }
}

extension ChunkReading {
    /// No order is kept by default.
    public func successor(of fingerprint: Fingerprint) -> Fingerprint? { nil }

    /// `true`: a store is assumed to block unless it says it does not.
    public var performsBlockingIO: Bool { true }
}

/// Adds chunks: what an encoder and a learning decoder need from a store.
public protocol ChunkWriting: ChunkReading {
    /// Stores a chunk under its fingerprint. Storing a chunk that is already held refreshes it for eviction.
    ///
    /// - Parameters:
    ///   - bytes: the chunk, at most ``ChunkerConfiguration/largestMaximumSize`` bytes.
    ///   - fingerprint: the chunk's fingerprint, computed by the caller.
    /// - Throws: ``ChunkStoreError`` on an I/O failure or a full disk.
    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError)

    /// Stores a chunk the caller already holds as an array, which a store that keeps chunks in memory may keep as
    /// it is instead of copying (the array is immutable: it is shared, never changed). Same contract as
    /// ``put(_:as:)-(UnsafeRawBufferPointer,_)``; by default it stores a copy through that method.
    func put(_ bytes: [UInt8], as fingerprint: Fingerprint) throws(ChunkStoreError)
}

extension ChunkWriting {
    /// Stores a copy through ``put(_:as:)-(UnsafeRawBufferPointer,_)``.
    public func put(_ bytes: [UInt8], as fingerprint: Fingerprint) throws(ChunkStoreError) {
        let failure: ChunkStoreError? = bytes.withUnsafeBytes { buffer in
            do throws(ChunkStoreError) {
                try put(buffer, as: fingerprint)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}

/// A bounded chunk store: the protocol shared by the memory store, the disk store and any composite of them.
public protocol ChunkStore: ChunkWriting {
    /// Drops a chunk if it is held.
    /// - Throws: ``ChunkStoreError`` on an I/O failure.
    func remove(_ fingerprint: Fingerprint) throws(ChunkStoreError)

    /// The most bytes of chunk data the store keeps before it evicts.
    var capacity: Int { get }

    /// The bytes of chunk data held now.
    var storedBytes: Int { get }

    /// The number of chunks held now.
    var count: Int { get }
}
