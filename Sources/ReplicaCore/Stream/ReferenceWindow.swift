import DequeModule

/// The encoder's view of the reference window: which fingerprints the decoder still holds, and where.
///
/// Every literal and every store reference appends a chunk; the oldest chunks leave once the window holds more
/// than `capacity` bytes. The decoder's ``DecoderWindow`` applies the same rule to the same sequence, so both
/// agree on which chunks a reference may name without any message between them.
struct EncoderWindow {
    let capacity: Int
    private var sequenceOf: [Fingerprint: UInt64] = [:]
    private var entries: Deque<(fingerprint: Fingerprint, length: Int)> = []
    private var heldBytes = 0
    private(set) var nextSequence: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    /// The reference distance to a held chunk (1 is the newest), or `nil`.
    func distance(to fingerprint: Fingerprint) -> UInt64? {
        guard let sequence = sequenceOf[fingerprint] else { return nil }
        return nextSequence - sequence
    }

    mutating func append(_ fingerprint: Fingerprint, length: Int) {
        guard capacity > 0 else { return }
        sequenceOf[fingerprint] = nextSequence
        entries.append((fingerprint, length))
        heldBytes += length
        nextSequence += 1
        while heldBytes > capacity, let oldest = entries.popFirst() {
            heldBytes -= oldest.length
            let oldestSequence = nextSequence - UInt64(entries.count) - 1
            if sequenceOf[oldest.fingerprint] == oldestSequence { sequenceOf[oldest.fingerprint] = nil }
        }
    }
}

/// The decoder's reference window: the bytes and fingerprints of the newest unique chunks.
///
/// Each chunk is held in an array of its own (a literal is copied out of its block body, so no body outlives
/// its block), and ``heldMemory`` counts its bytes plus ``entryOverhead``. Chunks leave by the encoder's rule
/// (oldest first once the chunk bytes exceed `capacity`), and also, oldest first, whenever ``heldMemory`` would
/// exceed `memoryBudget`: the held chunks are then a suffix of what the encoder assumes, and a reference to a
/// chunk dropped for memory fails instead of the memory limit.
struct DecoderWindow {
    /// What one held chunk costs besides its bytes: its deque slot (fingerprint and array reference, 24 bytes),
    /// its array's header (32 bytes) and the allocator's rounding and bookkeeping (up to 32 bytes), rounded up.
    static let entryOverhead = 96

    let capacity: Int
    let memoryBudget: Int
    private var entries: Deque<(fingerprint: Fingerprint, bytes: [UInt8])> = []
    private var heldBytes = 0
    /// The memory the held chunks take, overhead included; never above `memoryBudget` after an append.
    private(set) var heldMemory = 0
    /// How many chunks left early to keep ``heldMemory`` within `memoryBudget`.
    private(set) var droppedForMemory: UInt64 = 0

    init(capacity: Int, memoryBudget: Int = .max) {
        self.capacity = capacity
        self.memoryBudget = memoryBudget
    }

    var count: Int { entries.count }

    /// The chunk `distance` places back (1 is the newest), or `nil` when no such chunk is held.
    func chunk(at distance: UInt64) -> (fingerprint: Fingerprint, bytes: [UInt8])? {
        guard distance >= 1, distance <= UInt64(entries.count) else { return nil }
        return entries[entries.count - Int(distance)]
    }

    mutating func append(_ fingerprint: Fingerprint, _ bytes: [UInt8]) {
        guard capacity > 0 else { return }
        entries.append((fingerprint, bytes))
        heldBytes += bytes.count
        heldMemory += bytes.count + Self.entryOverhead
        while heldBytes > capacity || heldMemory > memoryBudget, let oldest = entries.popFirst() {
            if heldBytes <= capacity { droppedForMemory += 1 }
            heldBytes -= oldest.bytes.count
            heldMemory -= oldest.bytes.count + Self.entryOverhead
        }
    }
}
