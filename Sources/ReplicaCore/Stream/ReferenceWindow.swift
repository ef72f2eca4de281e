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
/// Chunks are slices of the block bodies they arrived in, so a body lives until its last chunk leaves the
/// window: the memory held exceeds `capacity` by at most one block body.
struct DecoderWindow {
    let capacity: Int
    private var entries: Deque<(fingerprint: Fingerprint, bytes: ArraySlice<UInt8>)> = []
    private var heldBytes = 0

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { entries.count }

    /// The chunk `distance` places back (1 is the newest), or `nil` when no such chunk is held.
    func chunk(at distance: UInt64) -> (fingerprint: Fingerprint, bytes: ArraySlice<UInt8>)? {
        guard distance >= 1, distance <= UInt64(entries.count) else { return nil }
        return entries[entries.count - Int(distance)]
    }

    mutating func append(_ fingerprint: Fingerprint, _ bytes: ArraySlice<UInt8>) {
        guard capacity > 0 else { return }
        entries.append((fingerprint, bytes))
        heldBytes += bytes.count
        while heldBytes > capacity, let oldest = entries.popFirst() {
            heldBytes -= oldest.bytes.count
        }
    }
}
