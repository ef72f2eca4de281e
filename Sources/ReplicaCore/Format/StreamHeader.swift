/// The fixed 64-byte header that opens every Replica stream. `docs/FORMAT.md` gives its layout byte by byte.
public struct StreamHeader: Hashable, Sendable {
    /// `"RPLC"`: the first four bytes of every stream.
    public static let magic: [UInt8] = [0x52, 0x50, 0x4C, 0x43]
    /// The format version this library writes and the newest it reads.
    public static let currentVersion: UInt8 = 3
    /// The format versions this library reads: 1 (no store runs, zstd history of at most 16 MiB), 2 (no
    /// transient literals or skips) and 3.
    public static let readableVersions: ClosedRange<UInt8> = 1...3
    /// The encoded size of a header.
    public static let size = 64

    /// Feature flags in byte 5. A decoder refuses a stream with a flag it does not know.
    public struct Flags: OptionSet, Hashable, Sendable {
        /// The flag byte.
        public let rawValue: UInt8
        /// Creates flags from the flag byte.
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// References by fingerprint into a named chunk store may appear.
        public static let storeBacked = Flags(rawValue: 1 << 0)
        /// Fingerprints are keyed; see ``Fingerprinter/init(key:)``.
        public static let keyedFingerprints = Flags(rawValue: 1 << 1)
        /// The chunker's Gear table was seeded; the seed itself is not recorded.
        public static let seededChunker = Flags(rawValue: 1 << 2)
        /// Every flag this version understands.
        public static let known: Flags = [.storeBacked, .keyedFingerprints, .seededChunker]
    }

    /// The format version.
    public var version: UInt8 = currentVersion
    /// The feature flags.
    public var flags: Flags
    /// The chunker's variant.
    public var chunkerVariant: ChunkerConfiguration.Variant
    /// The chunker's normalisation level.
    public var normalization: Int
    /// The chunker's minimum size.
    public var minimumChunkSize: Int
    /// The chunker's average size.
    public var averageChunkSize: Int
    /// The chunker's maximum size: the decoder's bound on one chunk.
    public var maximumChunkSize: Int
    /// The codec the encoder was configured with (each block records the codec it actually used).
    public var codec: CodecKind
    /// The codec level.
    public var codecLevel: Int
    /// For zstd with long-distance matching, the encoder's window log (byte 27, version 2); `nil` otherwise.
    /// The decoder accepts zstd windows up to `1 << max(24, zstdWindowLog)` bytes and counts that memory.
    public var zstdWindowLog: Int?
    /// How chunk fingerprints were computed.
    public var fingerprintKind: Fingerprinter.Kind
    /// The target literal bytes per block; with the maximum chunk size it bounds a block.
    public var blockSize: Int
    /// The reference window: how many bytes of unique chunk data the decoder must keep.
    public var windowSize: Int
    /// The store the stream's fingerprint references point into, or ``StoreID/none``.
    public var storeID: StoreID
    /// The key check of the fingerprint key (0 when unkeyed).
    public var keyCheck: UInt32

    /// The largest raw block body a stream with this header may carry.
    public var maximumBodySize: Int { blockSize + maximumChunkSize + BlockFormat.maximumOperations * 20 + 16 }
    /// The largest output one block may produce.
    public var maximumBlockOutput: Int { BlockFormat.outputLimit(blockSize: blockSize) + maximumChunkSize }

    /// Serialises the header (64 bytes).
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.size)
        bytes.append(version)
        bytes.append(flags.rawValue)
        bytes.appendLittleEndian(UInt16(Self.size))
        bytes.append(chunkerVariant == .v2016 ? 1 : 2)
        bytes.append(UInt8(normalization))
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt32(minimumChunkSize))
        bytes.appendLittleEndian(UInt32(averageChunkSize))
        bytes.appendLittleEndian(UInt32(maximumChunkSize))
        bytes.append(codec.rawValue)
        bytes.append(UInt8(bitPattern: Int8(clamping: codecLevel)))
        bytes.append(fingerprintKind.rawValue)
        bytes.append(UInt8(zstdWindowLog ?? 0))
        bytes.appendLittleEndian(UInt32(blockSize))
        bytes.appendLittleEndian(UInt64(windowSize))
        bytes += storeID.bytes
        bytes.appendLittleEndian(keyCheck)
        bytes.appendCheck32(from: 0)
        return bytes
    }

    /// Parses and validates a header from the first 64 bytes of `bytes`.
    ///
    /// - Throws: ``FormatError`` naming the field: not a Replica stream, an unsupported version or feature,
    ///   a checksum mismatch, or a parameter outside what any encoder writes.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> StreamHeader {
        var reader = ByteReader(bytes)
        guard let magic = reader.readBytes(4), magic.elementsEqual(Self.magic) else {
            throw FormatError(.notReplicaStream, at: 0, "the stream does not start with the magic bytes RPLC")
        }
        guard let version: UInt8 = reader.readLittleEndian() else {
            throw FormatError(.truncated, at: 4, "the stream ends inside its header")
        }
        guard readableVersions.contains(version) else {
            throw FormatError(
                .unsupportedVersion, at: 4,
                "format version \(version); this build reads versions \(readableVersions.lowerBound) to "
                    + "\(readableVersions.upperBound)")
        }
        guard bytes.count >= size else {
            throw FormatError(.truncated, at: UInt64(bytes.count), "the stream ends inside its 64-byte header")
        }
        let stored = bytes.loadUnaligned(fromByteOffset: 60, as: UInt32.self).littleEndian
        let computed = check32(UnsafeRawBufferPointer(rebasing: bytes[0..<60]))
        guard stored == computed else {
            throw FormatError(.checksumMismatch, at: 60, "header check \(hex(stored)), computed \(hex(computed))")
        }
        // The checksum matched, so the fixed-size reads below cannot run out of bytes.
        let flags = Flags(rawValue: reader.readLittleEndian() ?? 0)
        guard flags.isSubset(of: .known) else {
            throw FormatError(
                .unsupportedFeature, at: 5, "unknown feature flags 0x\(String(flags.rawValue, radix: 16))")
        }
        let headerSize: UInt16 = reader.readLittleEndian() ?? 0
        guard headerSize == size else {
            throw FormatError(.corrupt, at: 6, "header size \(headerSize), expected \(size)")
        }
        let variantCode: UInt8 = reader.readLittleEndian() ?? 0
        let normalization: UInt8 = reader.readLittleEndian() ?? 0
        _ = reader.readLittleEndian(as: UInt16.self)
        let minimum = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let average = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let maximum = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let codecCode: UInt8 = reader.readLittleEndian() ?? 0
        let level = Int(Int8(bitPattern: reader.readLittleEndian() ?? 0))
        let fingerprintCode: UInt8 = reader.readLittleEndian() ?? 0
        let windowLogCode: UInt8 = reader.readLittleEndian() ?? 0
        let blockSize = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let window = reader.readLittleEndian(as: UInt64.self) ?? 0
        let store = StoreID(bytes: Array(reader.readBytes(16) ?? UnsafeRawBufferPointer(start: nil, count: 0)))
        let keyCheck: UInt32 = reader.readLittleEndian() ?? 0

        let variant: ChunkerConfiguration.Variant
        switch variantCode {
        case 1: variant = .v2016
        case 2: variant = .v2020
        default: throw FormatError(.unsupportedFeature, at: 8, "unknown chunker variant \(variantCode)")
        }
        guard let codec = CodecKind(rawValue: codecCode) else {
            throw FormatError(.unsupportedFeature, at: 24, "unknown codec \(codecCode)")
        }
        guard let fingerprintKind = Fingerprinter.Kind(rawValue: fingerprintCode) else {
            throw FormatError(.unsupportedFeature, at: 26, "unknown fingerprint kind \(fingerprintCode)")
        }
        guard (1...ChunkerConfiguration.largestMaximumSize).contains(maximum), minimum <= average, average <= maximum,
            normalization <= 3
        else {
            throw FormatError(
                .corrupt, at: 12, "chunk sizes min \(minimum) avg \(average) max \(maximum) are inconsistent")
        }
        let zstdWindowLog = windowLogCode == 0 ? nil : Int(windowLogCode)
        if let zstdWindowLog {
            guard version >= 2, codec == .zstd, CodecConfiguration.longWindowLogRange.contains(zstdWindowLog) else {
                throw FormatError(
                    .corrupt, at: 27, "zstd window log \(zstdWindowLog) in a version \(version) \(codec) stream")
            }
        }
        guard EncoderConfiguration.blockSizeRange.contains(blockSize) else {
            throw FormatError(.corrupt, at: 28, "block size \(blockSize) is outside the range encoders write")
        }
        guard window <= UInt64(EncoderConfiguration.windowSizeRange.upperBound) else {
            throw FormatError(.limitExceeded, at: 32, "reference window of \(window) bytes is beyond any encoder's")
        }
        return StreamHeader(
            version: version, flags: flags, chunkerVariant: variant, normalization: Int(normalization),
            minimumChunkSize: minimum, averageChunkSize: average, maximumChunkSize: maximum, codec: codec,
            codecLevel: level, zstdWindowLog: zstdWindowLog, fingerprintKind: fingerprintKind, blockSize: blockSize, windowSize: Int(window),
            storeID: store ?? .none, keyCheck: keyCheck)
    }
}

func hex<T: FixedWidthInteger>(_ value: T) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, T.bitWidth / 4 - digits.count)) + digits
}
