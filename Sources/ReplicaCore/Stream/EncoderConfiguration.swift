/// Everything a ``StreamEncoder`` needs to know: how to cut, how to compress, how far back to reference.
public struct EncoderConfiguration: Sendable {
    /// The accepted target sizes for literal blocks.
    public static let blockSizeRange = (4 << 10)...(4 << 20)
    /// The accepted reference windows: none at all up to 1 TiB.
    public static let windowSizeRange = 0...(1 << 40)
    /// The default reference window: 256 MiB of unique chunk data.
    public static let defaultWindowSize = 256 << 20
    /// The default literal block target: 256 KiB.
    public static let defaultBlockSize = 256 << 10

    /// How chunks are cut.
    public let chunker: ChunkerConfiguration
    /// How literal blocks are compressed.
    public let codec: CodecConfiguration
    /// How many bytes of unique chunk data a reference may reach back over. The decoder keeps this much.
    public let windowSize: Int
    /// The literal bytes at which a block is closed.
    public let blockSize: Int
    /// The fingerprinter: plain XXH3-128 or keyed.
    public let fingerprinter: Fingerprinter
    /// Whether store references to chunks that follow one another in the store's order are sent as one store
    /// run (first fingerprint, count, check; format version 2). On by default; off, every stored chunk costs
    /// a 17-byte store reference, and the receiver's store order does not matter.
    public let storeRuns: Bool

    /// Creates a checked configuration.
    ///
    /// - Throws: ``ConfigurationError`` when the window or the block size is out of range.
    public init(
        chunker: ChunkerConfiguration = .default,
        codec: CodecConfiguration = .default,
        windowSize: Int = defaultWindowSize,
        blockSize: Int = defaultBlockSize,
        fingerprinter: Fingerprinter = Fingerprinter(),
        storeRuns: Bool = true
    ) throws(ConfigurationError) {
        guard Self.windowSizeRange.contains(windowSize) else {
            throw ConfigurationError(
                .windowSizeOutOfRange, setting: "windowSize", message: "\(windowSize) is outside 0 B...1 TiB")
        }
        guard Self.blockSizeRange.contains(blockSize) else {
            throw ConfigurationError(
                .blockSizeOutOfRange, setting: "blockSize", message: "\(blockSize) is outside 4 KiB...4 MiB")
        }
        self.chunker = chunker
        self.codec = codec
        self.windowSize = windowSize
        self.blockSize = blockSize
        self.fingerprinter = fingerprinter
        self.storeRuns = storeRuns
    }
}

/// What a ``StreamDecoder`` may spend, how much it may deliver, and what it must know.
///
/// Every value is checked by the initialiser and cannot change afterwards.
public struct DecoderOptions: Sendable {
    /// The default memory limit: 1 GiB, enough for the default 256 MiB window.
    public static let defaultMemoryLimit = 1 << 30
    /// The smallest memory limit accepted: 1 MiB.
    public static let smallestMemoryLimit = 1 << 20
    /// Options with every default: a 1 GiB memory limit, no output bound, one stream, unkeyed fingerprints.
    public static let `default` = DecoderOptions(
        checkedMemoryLimit: defaultMemoryLimit, maximumOutputSize: .max, acceptsConcatenatedStreams: false,
        fingerprinter: Fingerprinter())

    /// The most memory the decoder may hold for a stream: its window (chunk bytes and their bookkeeping), its
    /// block buffers and the zstd history. A stream whose header asks for more is refused before anything is
    /// decoded, and the window never holds more than its share.
    public let memoryLimit: Int
    /// The most content bytes the decoder delivers in total (over every stream when concatenated streams are
    /// accepted). A block that would go past it is refused with ``FormatError/Code/outputLimitExceeded``
    /// before it is decompressed. `Int.max` means no bound.
    public let maximumOutputSize: Int
    /// Whether a stream may follow the trailer of the one before (`cat a.rpl b.rpl`), as concatenated zstd
    /// frames do. When `false`, bytes after the trailer are ``FormatError/Code/trailingData``.
    public let acceptsConcatenatedStreams: Bool
    /// The fingerprinter for streams with keyed fingerprints; it must use the encoder's key.
    public let fingerprinter: Fingerprinter

    /// Options with every default; see ``default``.
    public init() { self = .default }

    /// Creates checked options.
    ///
    /// - Parameters:
    ///   - memoryLimit: the most memory the decoder may hold, at least ``smallestMemoryLimit``.
    ///   - maximumOutputSize: the most content bytes to deliver (0 or more; `Int.max` for no bound).
    ///   - acceptsConcatenatedStreams: whether streams may follow one another.
    ///   - fingerprinter: the encoder's fingerprinter, for keyed streams.
    /// - Throws: ``ConfigurationError`` when the memory limit is below 1 MiB or the output bound is negative.
    public init(
        memoryLimit: Int = defaultMemoryLimit, maximumOutputSize: Int = .max,
        acceptsConcatenatedStreams: Bool = false, fingerprinter: Fingerprinter = Fingerprinter()
    ) throws(ConfigurationError) {
        guard memoryLimit >= Self.smallestMemoryLimit else {
            throw ConfigurationError(
                .memoryLimitTooSmall, setting: "memoryLimit", message: "\(memoryLimit) is below 1 MiB")
        }
        guard maximumOutputSize >= 0 else {
            throw ConfigurationError(
                .negativeOutputBound, setting: "maximumOutputSize", message: "\(maximumOutputSize) is negative")
        }
        self.init(
            checkedMemoryLimit: memoryLimit, maximumOutputSize: maximumOutputSize,
            acceptsConcatenatedStreams: acceptsConcatenatedStreams, fingerprinter: fingerprinter)
    }

    private init(
        checkedMemoryLimit: Int, maximumOutputSize: Int, acceptsConcatenatedStreams: Bool,
        fingerprinter: Fingerprinter
    ) {
        self.memoryLimit = checkedMemoryLimit
        self.maximumOutputSize = maximumOutputSize
        self.acceptsConcatenatedStreams = acceptsConcatenatedStreams
        self.fingerprinter = fingerprinter
    }
}

/// The counters every stage keeps. The CLI's `-v` and `info`, the bench and the tunnel's stats all read these.
public struct StreamStatistics: Hashable, Sendable {
    /// Bytes of content: the encoder's input, or the decoder's output.
    public var contentBytes: UInt64 = 0
    /// Bytes of the encoded stream: the encoder's output, or the decoder's input.
    public var encodedBytes: UInt64 = 0
    /// Chunks cut (encoder) or rebuilt (decoder).
    public var chunks: UInt64 = 0
    /// Chunks sent as literals.
    public var literalChunks: UInt64 = 0
    /// Bytes of content sent as literals.
    public var literalBytes: UInt64 = 0
    /// Chunks sent as references into the stream's window.
    public var windowReferences: UInt64 = 0
    /// Bytes of content those references stand for.
    public var windowReferenceBytes: UInt64 = 0
    /// Chunks sent as fingerprint references into a store.
    public var storeReferences: UInt64 = 0
    /// Bytes of content those references stand for.
    public var storeReferenceBytes: UInt64 = 0
    /// Store runs written or read: each stands for two or more of the ``storeReferences``.
    public var storeRuns: UInt64 = 0
    /// Data blocks written or read.
    public var blocks: UInt64 = 0
    /// Blocks stored uncompressed because compression did not pay.
    public var rawBlocks: UInt64 = 0
    /// Blocks compressed against a prefix of stored chunks (edited chunks in store-backed streams).
    public var prefixedBlocks: UInt64 = 0
    /// Distinct chunks a decoder's store lacked.
    public var missingChunks: UInt64 = 0
    /// Transient literals: the undecided start of a chunk, delivered at a flush that keeps chunks whole.
    public var transientLiterals: UInt64 = 0
    /// Bytes of content delivered by transient literals.
    public var transientBytes: UInt64 = 0
    /// Bytes at the start of whole chunks that transient literals had already delivered (skipped on output).
    public var skippedBytes: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Content bytes per encoded byte (0 before anything is encoded).
    public var ratio: Double { encodedBytes == 0 ? 0 : Double(contentBytes) / Double(encodedBytes) }

    /// Adds another stream's counters, for example to total the streams of a concatenated file.
    public static func += (total: inout StreamStatistics, other: StreamStatistics) {
        total.contentBytes &+= other.contentBytes
        total.encodedBytes &+= other.encodedBytes
        total.chunks &+= other.chunks
        total.literalChunks &+= other.literalChunks
        total.literalBytes &+= other.literalBytes
        total.windowReferences &+= other.windowReferences
        total.windowReferenceBytes &+= other.windowReferenceBytes
        total.storeReferences &+= other.storeReferences
        total.storeReferenceBytes &+= other.storeReferenceBytes
        total.storeRuns &+= other.storeRuns
        total.blocks &+= other.blocks
        total.rawBlocks &+= other.rawBlocks
        total.prefixedBlocks &+= other.prefixedBlocks
        total.missingChunks &+= other.missingChunks
        total.transientLiterals &+= other.transientLiterals
        total.transientBytes &+= other.transientBytes
        total.skippedBytes &+= other.skippedBytes
    }

    /// The fraction of chunks that were sent as references.
    public var deduplicatedChunkFraction: Double {
        chunks == 0 ? 0 : Double(windowReferences + storeReferences) / Double(chunks)
    }

    /// The fraction of content bytes that were sent as references.
    public var deduplicatedByteFraction: Double {
        contentBytes == 0 ? 0 : Double(windowReferenceBytes + storeReferenceBytes) / Double(contentBytes)
    }
}
