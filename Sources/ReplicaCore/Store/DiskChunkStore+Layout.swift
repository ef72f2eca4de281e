/// The on-disk structures of a ``DiskChunkStore``, byte for byte as `docs/STORE.md` describes them.
///
/// All integers are little-endian; fingerprints are in their 16-byte canonical (big-endian) form. Every
/// structure ends in an XXH3-64 check of the bytes before it, so a torn or flipped header is never trusted.
enum StoreLayout {
    /// The name of the metadata file in a store directory.
    static let metaName = "store.meta"
    /// The name of the lock file.
    static let lockName = "lock"
    /// The name of the index snapshot.
    static let indexName = "index"
    /// The name of the quarantine log.
    static let quarantineName = "quarantine.log"
    /// The directory of segment files.
    static let segmentsName = "segments"

    /// The file name of segment `number`: 16 hex digits and `.seg`, so names sort in segment order.
    static func segmentName(_ number: UInt64) -> String {
        let digits = String(number, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".seg"
    }

    /// The segment number a file name stands for, or `nil` for any other name.
    static func segmentNumber(_ name: String) -> UInt64? {
        guard name.hasSuffix(".seg"), name.utf8.count == 20 else { return nil }
        return UInt64(name.prefix(16), radix: 16)
    }

    /// Records start at multiples of this alignment.
    static let alignment = 8

    /// The size of a record carrying `storedLength` payload bytes, padding included.
    static func recordSize(storedLength: Int) -> Int {
        (RecordHeader.size + storedLength + alignment - 1) / alignment * alignment
    }

    static func check(_ bytes: [UInt8], _ range: Range<Int>) -> UInt64 {
        bytes.withUnsafeBytes { XXHash.hash64(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}

/// `store.meta`: the store's identity and settings, 64 bytes, rewritten atomically.
struct StoreMeta: Equatable {
    static let size = 64
    static let magic: [UInt8] = Array("RPLSTORE".utf8)
    static let version: UInt32 = 1

    var storeID: StoreID
    var capacity: Int
    var segmentSize: Int
    var fingerprintKind: Fingerprinter.Kind
    var keyCheck: UInt32
    /// How new chunks are stored: `.none` or `.lz4`.
    var compression: CodecKind

    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendLittleEndian(Self.version)
        bytes.append(fingerprintKind.rawValue)
        bytes += [compression.rawValue, 0, 0]
        bytes.appendLittleEndian(keyCheck)
        bytes.appendLittleEndian(UInt32(0))
        bytes += storeID.bytes
        bytes.appendLittleEndian(UInt64(capacity))
        bytes.appendLittleEndian(UInt64(segmentSize))
        bytes.appendLittleEndian(StoreLayout.check(bytes, 0..<56))
        return bytes
    }

    /// Parses the file, naming what is wrong when it is not a valid store metadata file.
    static func decode(_ bytes: [UInt8], path: String) throws(ChunkStoreError) -> StoreMeta {
        guard bytes.count == size, Array(bytes[0..<8]) == magic else {
            throw ChunkStoreError(.notAStore, "\(path) is not a Replica store metadata file")
        }
        guard StoreLayout.check(bytes, 0..<56) == bytes.littleEndian(at: 56) else {
            throw ChunkStoreError(.damaged, "\(path) is damaged (checksum mismatch); the store's identity cannot be trusted")
        }
        let version: UInt32 = bytes.littleEndian(at: 8)
        guard version == Self.version else {
            throw ChunkStoreError(.unsupported, "\(path) has store format version \(version); this build reads version 1")
        }
        guard let kind = Fingerprinter.Kind(rawValue: bytes[12]), let storeID = StoreID(bytes: Array(bytes[24..<40]))
        else { throw ChunkStoreError(.unsupported, "\(path) names an unknown fingerprint kind \(bytes[12])") }
        guard let compression = CodecKind(rawValue: bytes[13]), compression != .zstd else {
            throw ChunkStoreError(.unsupported, "\(path) names an unknown store codec \(bytes[13])")
        }
        let capacity: UInt64 = bytes.littleEndian(at: 40)
        let segmentSize: UInt64 = bytes.littleEndian(at: 48)
        guard let capacity = Int(exactly: capacity), let segmentSize = Int(exactly: segmentSize),
            DiskChunkStore.Options.segmentSizeRange.contains(segmentSize)
        else { throw ChunkStoreError(.damaged, "\(path) holds an out-of-range capacity or segment size") }
        return StoreMeta(
            storeID: storeID, capacity: capacity, segmentSize: segmentSize, fingerprintKind: kind,
            keyCheck: bytes.littleEndian(at: 16), compression: compression)
    }
}

/// The 48-byte header at the start of every segment file.
struct SegmentHeader {
    static let size = 48
    static let magic: [UInt8] = Array("RPLSEGMT".utf8)

    var storeID: StoreID
    var number: UInt64

    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendLittleEndian(UInt32(1))
        bytes.appendLittleEndian(UInt32(0))
        bytes += storeID.bytes
        bytes.appendLittleEndian(number)
        bytes.appendLittleEndian(StoreLayout.check(bytes, 0..<40))
        return bytes
    }

    /// Parses a header; `nil` when it is torn, damaged or of another version.
    static func decode(_ bytes: [UInt8]) -> SegmentHeader? {
        guard bytes.count >= size, Array(bytes[0..<8]) == magic,
            StoreLayout.check(bytes, 0..<40) == bytes.littleEndian(at: 40),
            bytes.littleEndian(at: 8) as UInt32 == 1, let storeID = StoreID(bytes: Array(bytes[16..<32]))
        else { return nil }
        return SegmentHeader(storeID: storeID, number: bytes.littleEndian(at: 32))
    }
}

/// The 48-byte header of a record: a stored chunk, or a tombstone that cancels earlier records of a fingerprint.
struct RecordHeader: Equatable {
    static let size = 48
    /// `"REC1"` read as a little-endian integer.
    static let magic: UInt32 = 0x3143_4552

    enum Kind: UInt8 {
        case chunk = 1
        case tombstone = 2
    }

    var kind: Kind
    var codec: CodecKind
    var rawLength: Int
    var storedLength: Int
    var fingerprint: Fingerprint
    var payloadChecksum: UInt64

    /// The record's size on disk, padding included.
    var recordSize: Int { StoreLayout.recordSize(storedLength: storedLength) }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        bytes.appendLittleEndian(Self.magic)
        bytes.append(kind.rawValue)
        bytes.append(codec.rawValue)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt32(rawLength))
        bytes.appendLittleEndian(UInt32(storedLength))
        bytes.appendCanonical(fingerprint)
        bytes.appendLittleEndian(payloadChecksum)
        bytes.appendLittleEndian(StoreLayout.check(bytes, 0..<40))
        return bytes
    }

    /// Parses the header at `offset` of `bytes`; `nil` unless all 48 bytes are there and check out.
    static func decode(_ bytes: [UInt8], at offset: Int) -> RecordHeader? {
        guard offset >= 0, bytes.count - offset >= size, bytes.littleEndian(at: offset) as UInt32 == magic,
            StoreLayout.check(bytes, offset..<(offset + 40)) == bytes.littleEndian(at: offset + 40),
            let kind = Kind(rawValue: bytes[offset + 4]), let codec = CodecKind(rawValue: bytes[offset + 5]),
            codec != .zstd
        else { return nil }
        let rawLength = Int(bytes.littleEndian(at: offset + 8) as UInt32)
        let storedLength = Int(bytes.littleEndian(at: offset + 12) as UInt32)
        let limit = ChunkerConfiguration.largestMaximumSize
        guard rawLength <= limit, storedLength <= LZ4Compressor.bound(limit),
            kind == .chunk || (rawLength == 0 && storedLength == 0),
            codec != .none || rawLength == storedLength
        else { return nil }
        let high: UInt64 = bytes.littleEndian(at: offset + 16)
        let low: UInt64 = bytes.littleEndian(at: offset + 24)
        return RecordHeader(
            kind: kind, codec: codec, rawLength: rawLength, storedLength: storedLength,
            fingerprint: Fingerprint(high: high.byteSwapped, low: low.byteSwapped),
            payloadChecksum: bytes.littleEndian(at: offset + 32))
    }
}

extension Array where Element == UInt8 {
    /// Reads a little-endian integer at `offset`.
    /// - Precondition: `offset + MemoryLayout<T>.size <= count` (callers check the length first).
    func littleEndian<T: FixedWidthInteger>(at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count)
        return T(littleEndian: withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }
}
