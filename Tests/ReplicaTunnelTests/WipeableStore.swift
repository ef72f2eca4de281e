import ReplicaCore
import Synchronization

/// An unbounded in-memory store that a test can wipe, as if the disk under a store had been emptied.
final class WipeableStore: ChunkStore {
    let storeID = StoreID.random()
    let capacity = Int.max
    private let chunks = Mutex<[Fingerprint: [UInt8]]>([:])
    /// Whether it says it may block, as a disk store does (so a link calls it from the pool), or not, as a memory
    /// store does (so a link calls it from its event loop).
    let performsBlockingIO: Bool

    init(blocking: Bool = true) { performsBlockingIO = blocking }

    func wipe() { chunks.withLock { $0.removeAll() } }

    func contains(_ fingerprint: Fingerprint) -> Bool { chunks.withLock { $0[fingerprint] != nil } }

    func get(_ fingerprint: Fingerprint) -> [UInt8]? { chunks.withLock { $0[fingerprint] } }

    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) {
        let copy = [UInt8](bytes)
        chunks.withLock { $0[fingerprint] = copy }
    }

    func remove(_ fingerprint: Fingerprint) { chunks.withLock { _ = $0.removeValue(forKey: fingerprint) } }

    var storedBytes: Int { chunks.withLock { $0.values.reduce(0) { $0 + $1.count } } }
    var count: Int { chunks.withLock { $0.count } }
}
