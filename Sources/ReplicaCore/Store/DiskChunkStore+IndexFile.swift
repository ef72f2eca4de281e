/// The index snapshot `DIR/index`: the whole in-memory index and the per-segment counters, read in one `read`.
///
/// Layout: a 64-byte header (`"RPLINDEX"`, version, store id, entry count, segment count, next segment number,
/// header check), one 48-byte row per segment (number, length covered, live chunks, live record bytes, live
/// chunk bytes, flags: bit 0 = damaged, to be compacted), one 24-byte entry per chunk (canonical fingerprint,
/// packed location with the referenced bit clear), then an XXH3-64 of everything between the header and this
/// trailer. Written atomically.
struct IndexSnapshot {
    static let magic: [UInt8] = Array("RPLINDEX".utf8)
    static let headerSize = 64
    static let rowSize = 48
    static let entrySize = 24

    struct Row: Equatable {
        var number: UInt64
        var length: Int
        var liveCount: Int
        var liveBytes: Int
        var liveRawBytes: Int
        var damaged: Bool

        /// The largest segment length a row may name: a record may start at the last offset and be a whole chunk.
        static let largestLength = RecordLocation.maximumOffset + (64 << 20)

        /// Why the row cannot be trusted after `previous`, or `nil`: numbers rise strictly within
        /// 1...maximumSegment, and every field is within what a segment can hold (so none is negative).
        func problem(after previous: Row?) -> String? {
            guard number >= 1, number <= RecordLocation.maximumSegment else { return "segment number \(number)" }
            if let previous, number <= previous.number {
                return "segment \(number) follows segment \(previous.number)"
            }
            guard (SegmentHeader.size...Self.largestLength).contains(length) else { return "length \(length)" }
            guard (0...length).contains(liveBytes), (0...length).contains(liveCount) else {
                return "live counts \(liveCount) chunks, \(liveBytes) bytes in \(length)"
            }
            guard (0...(1 << 50)).contains(liveRawBytes) else { return "raw bytes \(liveRawBytes)" }
            return nil
        }
    }

    var rows: [Row]
    var nextSegment: UInt64
    /// The whole file, whose entries ``forEachEntry(_:)`` reads in place (no second copy while opening).
    let bytes: [UInt8]
    let entriesStart: Int
    let entryCount: Int

    /// Calls `body` with every entry, in file order, until it returns `false`.
    /// - Returns: `false` when `body` stopped early.
    func forEachEntry(_ body: (Fingerprint, RecordLocation) -> Bool) -> Bool {
        bytes.withUnsafeBytes { raw in
            for entry in 0..<entryCount {
                let at = entriesStart + entry * Self.entrySize
                let fingerprint = Fingerprint(
                    high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)))
                let location = RecordLocation(
                    packed: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self)))
                guard body(fingerprint, location) else { return false }
            }
            return true
        }
    }

    /// Serialises `index` and `rows`.
    static func encode(storeID: StoreID, index: ChunkIndex, rows: [Row], nextSegment: UInt64) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(headerSize + rows.count * rowSize + index.count * entrySize + 8)
        bytes.appendLittleEndian(UInt32(1))
        bytes.appendLittleEndian(UInt32(0))
        bytes += storeID.bytes
        bytes.appendLittleEndian(UInt64(index.count))
        bytes.appendLittleEndian(UInt64(rows.count))
        bytes.appendLittleEndian(nextSegment)
        bytes.appendLittleEndian(StoreLayout.check(bytes, 0..<56))
        for row in rows {
            for value in [
                row.number, UInt64(row.length), UInt64(row.liveCount), UInt64(row.liveBytes),
                UInt64(row.liveRawBytes), row.damaged ? 1 : 0,
            ] {
                bytes.appendLittleEndian(value)
            }
        }
        index.forEach { fingerprint, location in
            bytes.appendCanonical(fingerprint)
            bytes.appendLittleEndian(location.unreferenced.packed)
        }
        bytes.appendLittleEndian(StoreLayout.check(bytes, headerSize..<bytes.count))
        return bytes
    }

    /// Parses a snapshot; the error string says why it cannot be used.
    static func decode(_ bytes: [UInt8], storeID: StoreID) -> Result<IndexSnapshot, StoreProblem> {
        guard bytes.count >= headerSize + 8, Array(bytes[0..<8]) == magic,
            StoreLayout.check(bytes, 0..<56) == bytes.littleEndian(at: 56)
        else { return .failure(StoreProblem("the index header is damaged")) }
        guard bytes.littleEndian(at: 8) as UInt32 == 1, Array(bytes[16..<32]) == storeID.bytes else {
            return .failure(StoreProblem("the index belongs to another store or version"))
        }
        let entryCount: UInt64 = bytes.littleEndian(at: 32)
        let rowCount: UInt64 = bytes.littleEndian(at: 40)
        guard entryCount < 1 << 40, rowCount < 1 << 32,
            bytes.count == headerSize + Int(rowCount) * rowSize + Int(entryCount) * entrySize + 8
        else { return .failure(StoreProblem("the index has the wrong size")) }
        guard StoreLayout.check(bytes, headerSize..<(bytes.count - 8)) == bytes.littleEndian(at: bytes.count - 8) else {
            return .failure(StoreProblem("the index fails its checksum"))
        }
        var rows: [Row] = []
        for row in 0..<Int(rowCount) {
            let at = headerSize + row * rowSize
            func field(_ index: Int) -> Int {
                Int(truncatingIfNeeded: bytes.littleEndian(at: at + index * 8) as UInt64)
            }
            let decoded = Row(
                number: bytes.littleEndian(at: at), length: field(1), liveCount: field(2), liveBytes: field(3),
                liveRawBytes: field(4), damaged: field(5) & 1 != 0)
            if let problem = decoded.problem(after: rows.last) {
                return .failure(StoreProblem("index row \(row) is invalid: \(problem)"))
            }
            rows.append(decoded)
        }
        let nextSegment: UInt64 = bytes.littleEndian(at: 48)
        guard nextSegment > rows.last?.number ?? 0, nextSegment <= RecordLocation.maximumSegment + 1 else {
            return .failure(StoreProblem("the index's next segment number \(nextSegment) is invalid"))
        }
        return .success(
            IndexSnapshot(
                rows: rows, nextSegment: nextSegment, bytes: bytes,
                entriesStart: headerSize + Int(rowCount) * rowSize, entryCount: Int(entryCount)))
    }
}

/// Why an index snapshot was not used, or why a record cannot be trusted: words for a report or a log.
struct StoreProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
