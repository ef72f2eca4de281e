internal import CXXHash

/// Encodes a byte stream into Replica's format: content-defined chunks, repeated chunks as references, new
/// chunks batched into compressed, checksummed blocks.
///
/// Push-style: give it input in pieces of any size with ``encode(_:into:)``; it appends encoded bytes to the
/// buffer you pass as soon as a block is complete. ``flush(into:)`` forces out what is pending (for interactive
/// links), and ``finish(into:)`` writes the last block and the trailer. Memory is bounded by the block size,
/// the maximum chunk size and the window's fingerprint index, never by the input's length.
///
/// With a store, chunks the store holds become fingerprint references, and new chunks are added to it, so a
/// decoder with a store in step can rebuild the next stream from far fewer bytes.
///
/// ```swift
/// let encoder = try StreamEncoder(configuration: EncoderConfiguration())
/// var encoded: [UInt8] = []
/// try encoder.encode(Array("hello, hello, hello".utf8), into: &encoded)
/// try encoder.finish(into: &encoded)
/// ```
public final class StreamEncoder {
    /// The configuration this encoder was created with.
    public let configuration: EncoderConfiguration
    /// The header this encoder writes.
    public let header: StreamHeader
    /// The counters so far.
    public private(set) var statistics = StreamStatistics()

    private let store: (any ChunkWriting)?
    private let fingerprinter: Fingerprinter
    private var chunker: Chunker
    private var window: EncoderWindow
    private let compressor: BlockCompressor
    private var block = BlockBuilder()
    private var storedScratch: [UInt8] = []
    private let contentCheck: XXH3Stream
    private var headerWritten = false
    private var finished = false
    private let outputLimit: Int

    /// Creates an encoder.
    ///
    /// - Parameters:
    ///   - configuration: how to cut, compress and reference.
    ///   - store: a store to reference and fill, or `nil` for a self-contained stream.
    /// - Throws: ``CodecError`` when a compression context cannot be created.
    public init(configuration: EncoderConfiguration, store: (any ChunkWriting)? = nil) throws {
        self.configuration = configuration
        self.store = store
        self.fingerprinter = configuration.fingerprinter
        self.chunker = Chunker(configuration.chunker)
        self.window = EncoderWindow(capacity: configuration.windowSize)
        self.compressor = try BlockCompressor(configuration.codec)
        self.contentCheck = try XXH3Stream()
        self.outputLimit = BlockFormat.outputLimit(blockSize: configuration.blockSize)
        var flags: StreamHeader.Flags = []
        if store != nil { flags.insert(.storeBacked) }
        if fingerprinter.kind == .keyedXXH3 { flags.insert(.keyedFingerprints) }
        if configuration.chunker.seed != 0 { flags.insert(.seededChunker) }
        let chunker = configuration.chunker
        self.header = StreamHeader(
            flags: flags, chunkerVariant: chunker.variant, normalization: chunker.normalization,
            minimumChunkSize: chunker.minimumSize, averageChunkSize: chunker.averageSize,
            maximumChunkSize: chunker.maximumSize, codec: configuration.codec.kind,
            codecLevel: configuration.codec.level, fingerprintKind: fingerprinter.kind,
            blockSize: configuration.blockSize, windowSize: configuration.windowSize,
            storeID: store?.storeID ?? .none, keyCheck: fingerprinter.keyCheck)
    }

    /// Encodes the next piece of input, appending any completed blocks to `output`.
    ///
    /// - Throws: ``CodecError`` from the compressor, ``ChunkStoreError`` from the store.
    /// - Precondition: ``finish(into:)`` has not been called.
    public func encode(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws {
        precondition(!finished, "encode(_:into:) after finish(into:)")
        writeHeaderIfNeeded(&output)
        statistics.contentBytes &+= UInt64(bytes.count)
        try chunker.append(bytes) { chunk in try self.add(chunk, output: &output) }
    }

    /// Encodes the bytes of an array. See ``encode(_:into:)-(UnsafeRawBufferPointer,_)``.
    public func encode(_ bytes: [UInt8], into output: inout [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in try encode(buffer, into: &output) }
    }

    /// Cuts everything pending into chunks and writes a block, so the decoder can deliver all input so far.
    ///
    /// The forced cut is not content-defined: flush only when latency matters more than deduplication.
    public func flush(into output: inout [UInt8]) throws {
        precondition(!finished, "flush(into:) after finish(into:)")
        writeHeaderIfNeeded(&output)
        try chunker.finish { chunk in try self.add(chunk, output: &output) }
        try closeBlock(into: &output)
    }

    /// Writes the last block and the trailer. The encoder is done afterwards.
    public func finish(into output: inout [UInt8]) throws {
        try flush(into: &output)
        let trailer = StreamTrailer(
            contentLength: statistics.contentBytes, contentChecksum: contentCheck.digest,
            blockCount: statistics.blocks)
        let before = output.count
        trailer.encode(appendingTo: &output)
        statistics.encodedBytes &+= UInt64(output.count - before)
        finished = true
    }

    private func writeHeaderIfNeeded(_ output: inout [UInt8]) {
        guard !headerWritten else { return }
        headerWritten = true
        output += header.encoded()
        statistics.encodedBytes &+= UInt64(StreamHeader.size)
    }

    /// Decides how one chunk travels: as a window reference, a store reference or a literal.
    private func add(_ chunk: UnsafeRawBufferPointer, output: inout [UInt8]) throws {
        let fingerprint = fingerprinter.fingerprint(chunk)
        let length = UInt64(chunk.count)
        statistics.chunks &+= 1
        if let distance = window.distance(to: fingerprint) {
            block.appendOperation(.windowReference, distance)
            statistics.windowReferences &+= 1
            statistics.windowReferenceBytes &+= length
        } else if let store, store.contains(fingerprint) {
            block.appendOperation(.storeReference, 0)
            block.operations.appendCanonical(fingerprint)
            window.append(fingerprint, length: chunk.count)
            statistics.storeReferences &+= 1
            statistics.storeReferenceBytes &+= length
        } else {
            block.appendOperation(.literal, length)
            block.literals.append(contentsOf: chunk)
            window.append(fingerprint, length: chunk.count)
            try store?.put(chunk, as: fingerprint)
            statistics.literalChunks &+= 1
            statistics.literalBytes &+= length
        }
        block.recordChunk(fingerprint, length: chunk.count)
        if block.literals.count >= configuration.blockSize || block.operationCount >= BlockFormat.maximumOperations
            || block.outputLength >= outputLimit
        {
            try closeBlock(into: &output)
        }
    }

    /// Compresses and writes the block under construction, if it holds anything.
    private func closeBlock(into output: inout [UInt8]) throws {
        guard block.operationCount > 0 else { return }
        let body = block.assembleBody()
        storedScratch.removeAll(keepingCapacity: true)
        let codec = try body.withUnsafeBytes { buffer in
            try compressor.compress(buffer, appendingTo: &storedScratch)
        }
        let blockCheck = block.fingerprintList.withUnsafeBytes { buffer in
            contentCheck.update(buffer)
            return XXHash.hash64(buffer)
        }
        let storedCheck = storedScratch.withUnsafeBytes { XXHash.hash64($0) }
        let header = BlockHeader(
            codec: codec, rawLength: body.count, storedLength: storedScratch.count, outputLength: block.outputLength,
            storedChecksum: storedCheck, outputChecksum: blockCheck)
        let before = output.count
        header.encode(appendingTo: &output)
        output += storedScratch
        statistics.encodedBytes &+= UInt64(output.count - before)
        statistics.blocks &+= 1
        if codec == .none && configuration.codec.kind != .none { statistics.rawBlocks &+= 1 }
        block.reset()
    }
}

/// The block under construction: its operations, its literal bytes and the fingerprints of its chunks.
struct BlockBuilder {
    var operations: [UInt8] = []
    var literals: [UInt8] = []
    /// The canonical fingerprints of the block's chunks in order: the block check hashes this list.
    var fingerprintList: [UInt8] = []
    var operationCount = 0
    var outputLength = 0

    mutating func appendOperation(_ kind: BlockFormat.Operation, _ value: UInt64) {
        operations.appendVarint(value << 2 | kind.rawValue)
        operationCount += 1
    }

    mutating func recordChunk(_ fingerprint: Fingerprint, length: Int) {
        fingerprintList.appendCanonical(fingerprint)
        outputLength += length
    }

    /// The raw body: the operation count, the operations, then the literal section.
    func assembleBody() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(operations.count + literals.count + 10)
        body.appendVarint(UInt64(operationCount))
        body += operations
        body += literals
        return body
    }

    mutating func reset() {
        operations.removeAll(keepingCapacity: true)
        literals.removeAll(keepingCapacity: true)
        fingerprintList.removeAll(keepingCapacity: true)
        operationCount = 0
        outputLength = 0
    }
}
