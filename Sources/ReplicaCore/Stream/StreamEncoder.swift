internal import CXXHash

/// Encodes a byte stream into Replica's format: content-defined chunks, repeated chunks as references, new
/// chunks batched into compressed, checksummed blocks.
///
/// Push-style: give it input in pieces of any size with ``encode(_:into:)-(UnsafeRawBufferPointer,_)``; it appends encoded bytes to the
/// buffer you pass as soon as a block is complete. ``flush(into:cutChunk:)`` forces out what is pending (for interactive
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
    /// Whether blocks are compressed. Set it to `false` for input known to be incompressible (TLS, media,
    /// archives): chunks are still cut, fingerprinted, stored and sent as references when they repeat, but new
    /// chunks are stored raw without a compression attempt. Takes effect at the next block.
    public var compressesLiterals = true

    /// The bytes the chunker holds whose chunk is not decided yet: after ``flush(into:cutChunk:)`` without a cut,
    /// those a decoder carries until the chunk's end is known.
    package var undecidedByteCount: Int { chunker.bufferedCount }
    /// Whether a store run (and a run of store-prefix chunks) may pair two chunks only where the second is listed
    /// right after the first in ``takeStoreDependencies()``'s list with its repeats removed. Set it when the
    /// receiver knows the sender's order only from that list (a tunnel link's DATA frame carries it, and the
    /// receiver's store holds the chunks in another order); the caller must then take the dependencies after
    /// each flush. Off by default: a run follows the store's order alone.
    public var runsFollowDependencyList = false

    private let store: (any ChunkWriting)?
    private let fingerprinter: Fingerprinter
    private var chunker: Chunker
    private var window: EncoderWindow
    private let compressor: BlockCompressor
    private var block = BlockBuilder()
    private let contentCheck: XXH3Stream
    private var headerWritten = false
    private var finished = false
    private let outputLimit: Int
    /// Whether new chunks are compressed against stored neighbours of the chunks referenced around them.
    private let usesStorePrefix: Bool
    /// The literal chunks whose bytes the zstd stream's history still holds (its long window, or level 3's
    /// default window without one): a block is never compressed against a store prefix of those, since the
    /// prefix's one-shot context would trade the stream's whole history for bytes the stream already has.
    private var literalHistory: EncoderWindow
    /// The literal chunks of the open block: they join ``literalHistory`` only if the block goes through the
    /// stream (not raw, not store-prefixed).
    private var blockLiterals: [(fingerprint: Fingerprint, length: Int)] = []
    /// Where the current position probably is in the sequence of chunks the store remembers.
    private var oldStreamCursor: Fingerprint?
    /// The cursor the last new chunk was compressed against.
    private var previousCursor: Fingerprint?
    /// The last referenced chunk, whose successor becomes the cursor if a new chunk follows it.
    private var lastReference: Fingerprint?
    /// The store references not yet written: consecutive chunks in the store's order, sent as one run.
    private var run = StoreRun()
    /// The last successor looked up (a disk store pays a read for each).
    private var successorCache: (of: Fingerprint, is: Fingerprint?)?
    /// The stored chunks the written blocks depend on, in the order they were written: every store reference
    /// (each chunk of a store run) and every chunk of a store prefix. See ``takeStoreDependencies()``.
    private var storeDependencies: [Fingerprint] = []
    /// With ``runsFollowDependencyList``: the chunks of ``storeDependencies``, and the last one listed first.
    private var listedDependencies: Set<Fingerprint> = []
    private var lastListedDependency: Fingerprint?

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
        self.usesStorePrefix = store != nil && configuration.codec.kind == .zstd
        self.literalHistory = EncoderWindow(
            capacity: usesStorePrefix ? 1 << (configuration.codec.longWindowLog ?? 21) : 0)
        var flags: StreamHeader.Flags = []
        if store != nil { flags.insert(.storeBacked) }
        if fingerprinter.kind == .keyedXXH3 { flags.insert(.keyedFingerprints) }
        if configuration.chunker.seed != 0 { flags.insert(.seededChunker) }
        let chunker = configuration.chunker
        self.header = StreamHeader(
            flags: flags, chunkerVariant: chunker.variant, normalization: chunker.normalization,
            minimumChunkSize: chunker.minimumSize, averageChunkSize: chunker.averageSize,
            maximumChunkSize: chunker.maximumSize, codec: configuration.codec.kind,
            codecLevel: configuration.codec.level, zstdWindowLog: configuration.codec.longWindowLog,
            fingerprintKind: fingerprinter.kind,
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
        try chunker.append(bytes) { chunk, delivered in try self.add(chunk, delivered: delivered, output: &output) }
    }

    /// Encodes one chunk that the caller cut and fingerprinted, in input order: the seam for a pipeline that
    /// chunks and fingerprints on another thread. The output is the same as ``encode(_:into:)`` gives for the
    /// same input, provided the chunks come from a ``Chunker`` with this encoder's chunker configuration and
    /// the fingerprints from its fingerprinter. Do not mix the two calls in one stream.
    ///
    /// - Throws: ``CodecError`` from the compressor, ``ChunkStoreError`` from the store.
    /// - Precondition: ``finish(into:)`` has not been called and ``encode(_:into:)`` left no bytes buffered.
    package func encode(
        chunk: UnsafeRawBufferPointer, fingerprint: Fingerprint, into output: inout [UInt8]
    ) throws {
        precondition(!finished && chunker.bufferedCount == 0, "encode(chunk:) after finish or mixed with encode(_:)")
        writeHeaderIfNeeded(&output)
        statistics.contentBytes &+= UInt64(chunk.count)
        try add(chunk, fingerprint: fingerprint, output: &output)
    }

    /// Encodes the bytes of an array. See ``encode(_:into:)-(UnsafeRawBufferPointer,_)``.
    public func encode(_ bytes: [UInt8], into output: inout [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in try encode(buffer, into: &output) }
    }

    /// Writes a block holding all input so far, so the decoder can deliver it.
    ///
    /// - Parameters:
    ///   - output: the buffer the block is appended to.
    ///   - cutChunk: `true` (the default) cuts the pending bytes into chunks as the end of input would, and the
    ///     chunker starts afresh: the chunks after the flush depend on where it happened. `false` keeps the
    ///     chunker's state (``Chunker/flushPending(whole:tail:)``) and cuts no chunk: the bytes of the undecided
    ///     chunk travel now as a transient literal (delivered, but neither stored nor referenced), and once the
    ///     content decides that chunk's end it travels whole, as it would without the flush (a literal, a store
    ///     or window reference, a run member), preceded by a skip of the bytes already delivered (format 3). So
    ///     chunks, and what both stores hold, do not depend on the flush sizes. Interactive links that flush
    ///     often (the tunnel) use `false`.
    public func flush(into output: inout [UInt8], cutChunk: Bool = true) throws {
        precondition(!finished, "flush(into:) after finish(into:)")
        writeHeaderIfNeeded(&output)
        if cutChunk {
            try chunker.finish { chunk, delivered in try self.add(chunk, delivered: delivered, output: &output) }
        } else {
            try chunker.flushPending(
                whole: { chunk, delivered in try self.add(chunk, delivered: delivered, output: &output) },
                tail: { tail in try self.addTransient(tail, output: &output) })
        }
        try closeBlock(into: &output)
    }

    /// Puts `other` in place of the chunker and returns the one it replaces, so that one encoder can serve
    /// several interleaved inputs (the tunnel's flows) each with its own chunk boundaries.
    ///
    /// - Precondition: `other` was made with this encoder's chunker configuration.
    public func exchangeChunker(_ other: Chunker) -> Chunker {
        precondition(other.cutter.configuration == configuration.chunker, "a chunker of another configuration")
        let previous = chunker
        chunker = other
        return previous
    }

    /// Returns and forgets the stored chunks that the blocks written since the last call depend on: each store
    /// reference (every chunk of a store run) and each chunk of a block's store prefix, in the order written.
    ///
    /// The decoder needs exactly these chunks from its store, so a caller that must be able to supply them
    /// (a tunnel link answering chunk requests) learns them here rather than by watching the store's calls,
    /// which also see lookups that end up unused.
    public func takeStoreDependencies() -> [Fingerprint] {
        defer {
            storeDependencies.removeAll(keepingCapacity: true)
            listedDependencies.removeAll(keepingCapacity: true)
            lastListedDependency = nil
        }
        return storeDependencies
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
    ///
    /// - Parameter delivered: how many of the chunk's first bytes a flush already sent as a transient literal:
    ///   the chunk is preceded by a skip of that many bytes (which the decoder kept), and only the rest is output;
    ///   a literal carries only the rest.
    private func add(_ chunk: UnsafeRawBufferPointer, delivered: Int, output: inout [UInt8]) throws {
        try add(chunk, fingerprint: fingerprinter.fingerprint(chunk), delivered: delivered, output: &output)
    }

    private func add(
        _ chunk: UnsafeRawBufferPointer, fingerprint: Fingerprint, delivered: Int = 0, output: inout [UInt8]
    ) throws {
        let length = UInt64(chunk.count)
        statistics.chunks &+= 1
        if delivered > 0 {
            // The skip applies to the operation right after it: a pending run is written first, and the chunk
            // starts the next one.
            writeRun()
            block.appendSkip(delivered)
            statistics.skippedBytes &+= UInt64(delivered)
        }
        if let distance = window.distance(to: fingerprint) {
            writeRun()
            followOldStream(from: fingerprint)
            block.appendOperation(.windowReference, distance)
            statistics.windowReferences &+= 1
            statistics.windowReferenceBytes &+= length
        } else if let store, store.contains(fingerprint) {
            followOldStream(from: fingerprint)
            if configuration.storeRuns && delivered == 0 && run.count > 0 && run.next == fingerprint
                && run.count < BlockFormat.maximumRunChunks && mayFollow(storeDependencies.last, with: fingerprint)
            {
                run.extend(with: fingerprint)
            } else {
                writeRun()
                run.start(with: fingerprint)
            }
            run.next = configuration.storeRuns ? storedSuccessor(of: fingerprint) : nil
            window.append(fingerprint, length: chunk.count)
            appendDependency(fingerprint)
            statistics.storeReferences &+= 1
            statistics.storeReferenceBytes &+= length
        } else {
            writeRun()
            notePrefixCandidatesForLiteral()
            // After a skip the literal section holds only the bytes not delivered yet: the decoder kept the
            // transient ones and puts them in front.
            block.appendOperation(.literal, length)
            block.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[delivered...]))
            window.append(fingerprint, length: chunk.count)
            try store?.put(chunk, as: fingerprint)
            if usesStorePrefix {
                block.storedInBlock.insert(fingerprint)
                blockLiterals.append((fingerprint, chunk.count))
            }
            statistics.literalChunks &+= 1
            statistics.literalBytes &+= length
        }
        block.recordChunk(fingerprint, length: chunk.count - delivered)
        try closeBlockIfFull(into: &output)
    }

    /// Sends the bytes of a chunk whose end is not decided yet, at a flush that keeps the chunk: delivered to the
    /// output, covered by the block's content check, but neither stored, nor in the window, nor referenceable.
    /// The chunk follows whole later, with a skip of these bytes.
    private func addTransient(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws {
        writeRun()
        if let stored = try storedChunkBeginning(with: bytes) {
            // An unchanged stretch: the chunk these bytes begin is probably the stored one that follows the last
            // reference, and its bytes so far match, so they travel as a reference to its start.
            block.appendTransientStorePrefix(bytes.count, of: stored)
            appendDependency(stored)
        } else {
            // Compressed like a literal: the stored chunk at the cursor is probably the one these bytes edit.
            notePrefixCandidatesForLiteral()
            block.appendTransient(bytes)
        }
        block.recordChunk(fingerprinter.fingerprint(bytes), length: bytes.count)
        statistics.transientLiterals &+= 1
        statistics.transientBytes &+= UInt64(bytes.count)
        try closeBlockIfFull(into: &output)
    }

    /// The stored chunk that most likely continues the stream here (the one after the last referenced chunk, or
    /// the cursor after edited ones), if it begins with `bytes`.
    private func storedChunkBeginning(with bytes: UnsafeRawBufferPointer) throws -> Fingerprint? {
        guard usesStorePrefix, let store else { return nil }
        let candidate = lastReference.flatMap { storedSuccessor(of: $0) } ?? oldStreamCursor
        guard let candidate, let stored = try store.get(candidate), stored.count >= bytes.count,
            stored.withUnsafeBytes({ $0.prefix(bytes.count).elementsEqual(bytes) })
        else { return nil }
        return candidate
    }

    /// Closes the open block once it holds its target of literal bytes, operations or output.
    ///
    /// Two operations are kept in reserve: the next chunk may add a pending run's operation, a skip and its
    /// own operation before the next check, and closing writes a pending run.
    private func closeBlockIfFull(into output: inout [UInt8]) throws {
        if block.literalCount >= configuration.blockSize || block.operationCount >= BlockFormat.maximumOperations - 2
            || block.outputLength >= outputLimit
        {
            try closeBlock(into: &output)
        }
    }

    /// Records a chunk the written blocks depend on.
    private func appendDependency(_ fingerprint: Fingerprint) {
        storeDependencies.append(fingerprint)
        if runsFollowDependencyList, listedDependencies.insert(fingerprint).inserted {
            lastListedDependency = fingerprint
        }
    }

    /// Whether a run may pair `previous` (the last dependency appended) with `next`: with
    /// ``runsFollowDependencyList``, only when `next` will be listed right after `previous` in the dependency
    /// list with its repeats removed, so a receiver that knows only that list resolves the pair from it.
    private func mayFollow(_ previous: Fingerprint?, with next: Fingerprint) -> Bool {
        guard runsFollowDependencyList else { return true }
        guard let previous else { return false }
        return lastListedDependency == previous && !listedDependencies.contains(next)
    }

    /// Writes the pending store references: one store reference, or a store run for two or more.
    private func writeRun() {
        switch run.count {
        case 0:
            return
        case 1:
            block.appendOperation(.storeReference, 0)
            block.operations.appendCanonical(run.first)
        default:
            block.appendOperation(.storeRun, UInt64(run.count))
            block.operations.appendCanonical(run.first)
            block.operations.appendLittleEndian(run.check)
            statistics.storeRuns &+= 1
        }
        run.reset()
    }

    /// The chunk the store received after `fingerprint`, remembering the last answer.
    private func storedSuccessor(of fingerprint: Fingerprint) -> Fingerprint? {
        if let cached = successorCache, cached.of == fingerprint { return cached.is }
        let next = store?.successor(of: fingerprint)
        successorCache = (fingerprint, next)
        return next
    }

    /// Notes a referenced chunk: the stored chunk after it is where an edit that follows would come from.
    private func followOldStream(from fingerprint: Fingerprint) {
        guard usesStorePrefix else { return }
        lastReference = fingerprint
    }

    /// A new chunk is most likely an edit of the stored chunk at the cursor (the one that followed the last
    /// referenced chunk, or the last edited one): it and the one after it become prefix candidates, and the
    /// cursor moves past them, so a run of edited chunks walks along the stored run it replaces.
    private func notePrefixCandidatesForLiteral() {
        if let reference = lastReference {
            oldStreamCursor = storedSuccessor(of: reference)
            lastReference = nil
        }
        guard usesStorePrefix, let cursor = oldStreamCursor,
            block.prefixCandidates.count < BlockFormat.maximumPrefixChunks * 2
        else { return }
        // A block's first literal may continue a chunk the previous block began (a flush handed out its first
        // piece, compressed against the stored chunk at the cursor then): that chunk is a candidate again.
        if block.prefixCandidates.isEmpty, let previous = previousCursor, previous != cursor {
            block.prefixCandidates.append(previous)
        }
        previousCursor = cursor
        block.prefixCandidates.append(cursor)
        let next = storedSuccessor(of: cursor)
        if let next {
            block.prefixCandidates.append(next)
            block.storedSuccessors[cursor] = next
        }
        oldStreamCursor = next
    }

    /// The block's body compressed against a prefix of stored chunks, as the stored payload, or `nil` when the
    /// block has no literals, no candidates, or the plain encodings do as well.
    ///
    /// Chunks stored during this block are left out: the decoder adds them to its store only after it has
    /// decompressed the block.
    private func storePrefixedBody() throws -> (ArraySlice<UInt8>, BlockFormat.Encoding)? {
        guard usesStorePrefix, let store, !block.prefixCandidates.isEmpty, block.literalCount > 0 else { return nil }
        var chosen: [Fingerprint] = []
        var seen: Set<Fingerprint> = []
        var prefix: [UInt8] = []
        for candidate in block.prefixCandidates
        where !block.storedInBlock.contains(candidate) && literalHistory.distance(to: candidate) == nil {
            guard chosen.count < BlockFormat.maximumPrefixChunks, prefix.count < BlockFormat.prefixBudget else { break }
            guard seen.insert(candidate).inserted, let bytes = try store.get(candidate) else { continue }
            chosen.append(candidate)
            prefix += bytes
        }
        guard !chosen.isEmpty else { return nil }
        let compressed = try block.body.withUnsafeBytes { body in
            try prefix.withUnsafeBytes { try compressor.compress(body, prefix: $0) }
        }
        guard let compressed else { return nil }
        // The prefix list as runs of chunks that follow one another in the store (format 2).
        var runs: [StoreRun] = []
        var previous: Fingerprint?
        for fingerprint in chosen {
            let follows = mayFollow(previous, with: fingerprint)
            appendDependency(fingerprint)
            if configuration.storeRuns, follows, let previous, block.storedSuccessors[previous] == fingerprint {
                runs[runs.count - 1].extend(with: fingerprint)
            } else {
                var run = StoreRun()
                run.start(with: fingerprint)
                runs.append(run)
            }
            previous = fingerprint
        }
        var payload: [UInt8] = []
        payload.reserveCapacity(2 + runs.count * 25 + compressed.count)
        payload.appendLittleEndian(UInt16(runs.count))
        for run in runs {
            payload.appendCanonical(run.first)
            payload.append(UInt8(run.count))
            if run.count > 1 { payload.appendLittleEndian(run.check) }
        }
        payload += compressed
        return (payload[...], .zstdWithStorePrefix)
    }

    /// Compresses and writes the block under construction, if it holds anything.
    private func closeBlock(into output: inout [UInt8]) throws {
        writeRun()
        guard block.operationCount > 0 else { return }
        block.closeBody()
        let blockCheck = block.fingerprintList.withUnsafeBytes { buffer in
            contentCheck.update(buffer)
            return XXHash.hash64(buffer)
        }
        var (stored, encoding): (ArraySlice<UInt8>?, BlockFormat.Encoding) = (nil, .raw)
        if compressesLiterals {
            (stored, encoding) = try storePrefixedBody() ?? (nil, .raw)
            if stored == nil, let compressed = try block.body.withUnsafeBytes({ try compressor.compress($0) }) {
                (stored, encoding) = compressed
            }
        }
        if encoding == .zstd {
            for literal in blockLiterals { literalHistory.append(literal.fingerprint, length: literal.length) }
        }
        blockLiterals.removeAll(keepingCapacity: true)
        let payload = stored ?? block.body[...]
        let storedCheck = payload.withUnsafeBytes { XXHash.hash64($0) }
        let header = BlockHeader(
            encoding: encoding, rawLength: block.body.count, storedLength: payload.count,
            outputLength: block.outputLength, storedChecksum: storedCheck, outputChecksum: blockCheck)
        let before = output.count
        header.encode(appendingTo: &output)
        output += payload
        statistics.encodedBytes &+= UInt64(output.count - before)
        statistics.blocks &+= 1
        if encoding == .raw && configuration.codec.kind != .none { statistics.rawBlocks &+= 1 }
        if encoding == .zstdWithStorePrefix { statistics.prefixedBlocks &+= 1 }
        block.reset()
    }
}

/// Store references to chunks that follow one another in the store's order (``ChunkReading/successor(of:)``),
/// gathered to be written as one operation: the first fingerprint, the count, and a check of the whole run.
struct StoreRun {
    var first = Fingerprint(high: 0, low: 0)
    var count = 0
    /// The canonical fingerprints of the run's chunks: the run check hashes this list.
    var fingerprints: [UInt8] = []
    /// The stored successor of the run's last chunk: the chunk that would extend it.
    var next: Fingerprint?

    /// XXH3-64 of the run's canonical fingerprints.
    var check: UInt64 { fingerprints.withUnsafeBytes { XXHash.hash64($0) } }

    mutating func start(with fingerprint: Fingerprint) {
        first = fingerprint
        count = 1
        fingerprints.appendCanonical(fingerprint)
    }

    mutating func extend(with fingerprint: Fingerprint) {
        count += 1
        fingerprints.appendCanonical(fingerprint)
    }

    mutating func reset() {
        count = 0
        next = nil
        fingerprints.removeAll(keepingCapacity: true)
    }
}

/// The block under construction: its body (literal section first) and the fingerprints of its chunks.
///
/// Literal bytes go straight into the body; the operations are appended after them when the block closes, so
/// no literal byte is copied twice before compression.
struct BlockBuilder {
    /// The literal section so far; after ``closeBody()``, the whole raw body.
    var body: [UInt8] = []
    var operations: [UInt8] = []
    /// The canonical fingerprints of the block's chunks in order: the block check hashes this list.
    var fingerprintList: [UInt8] = []
    var operationCount = 0
    var outputLength = 0
    /// Stored successors of the chunks this block references, in order: candidates for the prefix.
    var prefixCandidates: [Fingerprint] = []
    /// The stored successor of each candidate that has one, as the encoder looked it up.
    var storedSuccessors: [Fingerprint: Fingerprint] = [:]
    /// Chunks this block added to the store.
    var storedInBlock: Set<Fingerprint> = []

    var literalCount: Int { body.count }

    mutating func appendOperation(_ kind: BlockFormat.Operation, _ value: UInt64) {
        operations.appendVarint(value << 2 | kind.rawValue)
        operationCount += 1
    }

    /// Appends a skip (format 3): the next operation's chunk begins with `count` bytes already delivered.
    mutating func appendSkip(_ count: Int) {
        operations.append(0)
        operations.append(BlockFormat.ExtendedOperation.skip.rawValue)
        operations.appendVarint(UInt64(count))
        operationCount += 1
    }

    /// Appends a transient literal (format 3): `bytes` are delivered but form no chunk.
    mutating func appendTransient(_ bytes: UnsafeRawBufferPointer) {
        body.append(contentsOf: bytes)
        operations.append(0)
        operations.append(BlockFormat.ExtendedOperation.transientLiteral.rawValue)
        operations.appendVarint(UInt64(bytes.count))
        operationCount += 1
    }

    /// Appends a transient store prefix (format 3): the first `count` bytes of the stored chunk `fingerprint`
    /// are delivered but form no chunk.
    mutating func appendTransientStorePrefix(_ count: Int, of fingerprint: Fingerprint) {
        operations.append(0)
        operations.append(BlockFormat.ExtendedOperation.transientStorePrefix.rawValue)
        operations.appendVarint(UInt64(count))
        operations.appendCanonical(fingerprint)
        operationCount += 1
    }

    mutating func recordChunk(_ fingerprint: Fingerprint, length: Int) {
        fingerprintList.appendCanonical(fingerprint)
        outputLength += length
    }

    /// Completes the raw body: the literal section, the operations, then their count and byte length.
    mutating func closeBody() {
        body += operations
        body.appendLittleEndian(UInt32(operationCount))
        body.appendLittleEndian(UInt32(operations.count))
    }

    mutating func reset() {
        body.removeAll(keepingCapacity: true)
        operations.removeAll(keepingCapacity: true)
        fingerprintList.removeAll(keepingCapacity: true)
        prefixCandidates.removeAll(keepingCapacity: true)
        storedSuccessors.removeAll(keepingCapacity: true)
        storedInBlock.removeAll(keepingCapacity: true)
        operationCount = 0
        outputLength = 0
    }
}
