/// Where a record lives, packed into 64 bits so an index slot is 24 bytes.
///
/// Bits 63...38: the segment number (26 bits). Bits 37...14: the record's offset in the segment divided by 8
/// (24 bits, so records start below 128 MiB). Bits 13...1: the record's size in 4 KiB units, rounded up and
/// saturated at 8191, so one read usually fetches the whole record. Bit 0: the CLOCK "referenced" bit.
/// Segment numbers start at 1, so a packed location is never 0, which marks an empty slot.
package struct RecordLocation: Hashable {
    package static let maximumSegment: UInt64 = (1 << 26) - 1
    package static let maximumOffset = (1 << 27) - 8

    package let packed: UInt64

    package init(packed: UInt64) { self.packed = packed }

    /// - Precondition: `segment` in 1...maximumSegment, `offset` 8-aligned and at most `maximumOffset`.
    package init(segment: UInt64, offset: Int, recordSize: Int) {
        precondition(segment >= 1 && segment <= Self.maximumSegment && offset <= Self.maximumOffset)
        let units = UInt64(min(8191, (recordSize + 4095) / 4096))
        packed = segment << 38 | UInt64(offset / 8) << 14 | units << 1
    }

    package var segment: UInt64 { packed >> 38 }
    package var offset: Int { Int(packed >> 14 & 0xFF_FFFF) * 8 }
    /// Bytes worth reading to get the whole record in one go (at least the header).
    package var readSize: Int { Int(packed >> 1 & 0x1FFF) * 4096 }
    package var isReferenced: Bool { packed & 1 != 0 }
    package var referenced: RecordLocation { RecordLocation(packed: packed | 1) }
    package var unreferenced: RecordLocation { RecordLocation(packed: packed & ~1) }
}

/// The in-memory index of a ``DiskChunkStore``: an open-addressing hash table from fingerprint to location.
///
/// Each slot is three words (fingerprint high, low, packed location): 24 bytes. Linear probing from a home
/// slot chosen by multiply-shift over the fingerprint's low half (already uniformly distributed), backward-shift
/// deletion (no tombstones), growth by 1.5x at 85% load, so RAM stays between 28 and 43 bytes per chunk.
package struct ChunkIndex {
    private(set) var words: [UInt64]
    package private(set) var count = 0
    private var slotCount: Int

    static let maximumLoad = 0.85

    /// An empty index sized for `expected` entries.
    package init(expected: Int = 0) {
        slotCount = max(64, Int(Double(expected) / 0.7))
        words = [UInt64](repeating: 0, count: slotCount * 3)
    }

    /// Bytes of RAM the table occupies.
    package var memoryBytes: Int { words.count * MemoryLayout<UInt64>.size }

    private func home(_ fingerprint: Fingerprint) -> Int {
        Int(fingerprint.low.multipliedFullWidth(by: UInt64(slotCount)).high)
    }

    private func home(ofSlot slot: Int) -> Int {
        Int(words[slot * 3 + 1].multipliedFullWidth(by: UInt64(slotCount)).high)
    }

    /// The slot holding `fingerprint`, or `nil`.
    package func slot(of fingerprint: Fingerprint) -> Int? {
        var slot = home(fingerprint)
        while words[slot * 3 + 2] != 0 {
            if words[slot * 3 + 1] == fingerprint.low && words[slot * 3] == fingerprint.high { return slot }
            slot = slot + 1 == slotCount ? 0 : slot + 1
        }
        return nil
    }

    /// The location of `fingerprint`, or `nil`.
    package func location(of fingerprint: Fingerprint) -> RecordLocation? {
        slot(of: fingerprint).map { RecordLocation(packed: words[$0 * 3 + 2]) }
    }

    /// The location in an occupied slot.
    package func location(atSlot slot: Int) -> RecordLocation { RecordLocation(packed: words[slot * 3 + 2]) }

    /// Sets the referenced bit of an occupied slot.
    package mutating func markReferenced(atSlot slot: Int) { words[slot * 3 + 2] |= 1 }

    /// Inserts or moves `fingerprint`; returns its previous location.
    @discardableResult
    package mutating func set(_ fingerprint: Fingerprint, _ location: RecordLocation) -> RecordLocation? {
        if let slot = slot(of: fingerprint) {
            let old = RecordLocation(packed: words[slot * 3 + 2])
            words[slot * 3 + 2] = location.packed
            return old
        }
        if Double(count + 1) > Double(slotCount) * Self.maximumLoad { grow() }
        insertNew(fingerprint.high, fingerprint.low, location.packed)
        count += 1
        return nil
    }

    /// Removes `fingerprint`; returns its location if it was held.
    @discardableResult
    package mutating func remove(_ fingerprint: Fingerprint) -> RecordLocation? {
        guard var hole = slot(of: fingerprint) else { return nil }
        let old = RecordLocation(packed: words[hole * 3 + 2])
        count -= 1
        var next = hole
        while true {
            next = next + 1 == slotCount ? 0 : next + 1
            guard words[next * 3 + 2] != 0 else { break }
            let wanted = home(ofSlot: next)
            // Move `next` back into the hole unless its home lies cyclically in (hole, next].
            let stays = hole <= next ? (hole < wanted && wanted <= next) : (hole < wanted || wanted <= next)
            if !stays {
                for word in 0..<3 { words[hole * 3 + word] = words[next * 3 + word] }
                hole = next
            }
        }
        for word in 0..<3 { words[hole * 3 + word] = 0 }
        return old
    }

    /// Calls `body` with every entry.
    package func forEach(_ body: (Fingerprint, RecordLocation) throws -> Void) rethrows {
        for slot in 0..<slotCount where words[slot * 3 + 2] != 0 {
            try body(
                Fingerprint(high: words[slot * 3], low: words[slot * 3 + 1]),
                RecordLocation(packed: words[slot * 3 + 2]))
        }
    }

    private mutating func insertNew(_ high: UInt64, _ low: UInt64, _ packed: UInt64) {
        var slot = Int(low.multipliedFullWidth(by: UInt64(slotCount)).high)
        while words[slot * 3 + 2] != 0 { slot = slot + 1 == slotCount ? 0 : slot + 1 }
        words[slot * 3] = high
        words[slot * 3 + 1] = low
        words[slot * 3 + 2] = packed
    }

    private mutating func grow() {
        let old = words
        let oldSlots = slotCount
        slotCount = slotCount + slotCount / 2
        words = [UInt64](repeating: 0, count: slotCount * 3)
        for slot in 0..<oldSlots where old[slot * 3 + 2] != 0 {
            insertNew(old[slot * 3], old[slot * 3 + 1], old[slot * 3 + 2])
        }
    }
}
