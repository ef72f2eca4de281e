import Synchronization

/// A bounded in-memory chunk store that evicts the least recently used chunks.
///
/// Thread-safe: one mutex guards the map and the recency list, so it can be shared between an encoder, a
/// decoder and the tunnel's event loops. `get` and `put` both count as a use.
public final class MemoryChunkStore: ChunkStore {
    /// The identity given at creation.
    public let storeID: StoreID
    /// The most bytes of chunk data held; older chunks are evicted beyond it.
    public let capacity: Int
    private let state: Mutex<LRUState>

    /// Creates an empty store.
    ///
    /// - Parameters:
    ///   - capacity: the most bytes of chunk data to hold.
    ///   - storeID: the identity to report; a random one by default.
    public init(capacity: Int, storeID: StoreID = .random()) {
        self.capacity = max(0, capacity)
        self.storeID = storeID
        self.state = Mutex(LRUState())
    }

    /// Whether the chunk is held. Does not count as a use.
    public func contains(_ fingerprint: Fingerprint) -> Bool {
        state.withLock { $0.slotOf[fingerprint] != nil }
    }

    /// The chunk's bytes, marking it most recently used.
    public func get(_ fingerprint: Fingerprint) -> [UInt8]? {
        state.withLock { state in
            guard let slot = state.slotOf[fingerprint] else { return nil }
            state.touch(slot)
            return state.slots[slot].bytes
        }
    }

    /// Stores a copy of the chunk (or marks it used if held), then evicts the least recently used chunks
    /// beyond the capacity. A chunk larger than the capacity is not stored.
    public func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) {
        guard bytes.count <= capacity else { return }
        put([UInt8](bytes), as: fingerprint)
    }

    /// Stores the array itself, without a copy (or marks the chunk used if held), then evicts as
    /// ``put(_:as:)-(UnsafeRawBufferPointer,_)`` does.
    public func put(_ bytes: [UInt8], as fingerprint: Fingerprint) {
        guard bytes.count <= capacity else { return }
        let capacity = self.capacity
        state.withLock { state in
            if let slot = state.slotOf[fingerprint] {
                state.touch(slot)
                return
            }
            state.insert(fingerprint, bytes)
            while state.storedBytes > capacity { state.evictOldest() }
        }
    }

    /// Drops the chunk if held.
    public func remove(_ fingerprint: Fingerprint) {
        state.withLock { state in
            if let slot = state.slotOf[fingerprint] { state.unlink(slot, free: true) }
        }
    }

    /// The chunk inserted right after this one, while both are held.
    public func successor(of fingerprint: Fingerprint) -> Fingerprint? {
        state.withLock { state in state.slotOf[fingerprint].flatMap { state.slots[$0].successor } }
    }

    /// `false`: every call works in memory under one mutex, held only while the map and the recency list change
    /// (a copy of a chunk is made before the lock is taken).
    public var performsBlockingIO: Bool { false }

    /// The bytes of chunk data held.
    public var storedBytes: Int { state.withLock { $0.storedBytes } }
    /// The number of chunks held.
    public var count: Int { state.withLock { $0.slotOf.count } }
}

/// The map and the doubly linked recency list of ``MemoryChunkStore``, in arrays of slots with a free list.
struct LRUState: ~Copyable {
    struct Slot {
        var fingerprint: Fingerprint
        var bytes: [UInt8]
        /// The chunk inserted right after this one.
        var successor: Fingerprint? = nil
        var newer = -1
        var older = -1
    }

    var slots: [Slot] = []
    var slotOf: [Fingerprint: Int] = [:]
    var freeSlots: [Int] = []
    var newest = -1
    var oldest = -1
    var storedBytes = 0
    var lastInserted: Fingerprint?

    mutating func insert(_ fingerprint: Fingerprint, _ bytes: [UInt8]) {
        if let previous = lastInserted, let previousSlot = slotOf[previous] {
            slots[previousSlot].successor = fingerprint
        }
        lastInserted = fingerprint
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = Slot(fingerprint: fingerprint, bytes: bytes)
        } else {
            slot = slots.count
            slots.append(Slot(fingerprint: fingerprint, bytes: bytes))
        }
        slotOf[fingerprint] = slot
        storedBytes += bytes.count
        linkNewest(slot)
    }

    mutating func touch(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot, free: false)
        linkNewest(slot)
    }

    mutating func evictOldest() {
        guard oldest >= 0 else { return }
        unlink(oldest, free: true)
    }

    mutating func unlink(_ slot: Int, free: Bool) {
        let (newer, older) = (slots[slot].newer, slots[slot].older)
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[slot].newer = -1
        slots[slot].older = -1
        if free {
            storedBytes -= slots[slot].bytes.count
            slotOf[slots[slot].fingerprint] = nil
            slots[slot].bytes = []
            freeSlots.append(slot)
        }
    }

    private mutating func linkNewest(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = -1
        if newest >= 0 { slots[newest].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
