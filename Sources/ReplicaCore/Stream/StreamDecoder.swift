/// Decodes a Replica stream, verifying every block before any of its bytes are handed out.
///
/// Push-style: give it encoded bytes in pieces of any size with ``decode(_:into:)-(UnsafeRawBufferPointer,_)``; it appends each block's
/// content to your buffer once the block's checksums have been verified. Call ``finish()`` at the end of input:
/// it throws if the stream was truncated. Errors are terminal: after one, the decoder refuses further input.
///
/// Memory is bounded by ``DecoderOptions/memoryLimit``: a header whose window and block limits need more
/// (``memoryNeeded(for:)``) is refused before anything is decoded, every length read from the stream is checked
/// against those limits before memory is allocated for it, and the window never holds more than its share.
/// Output is bounded by ``DecoderOptions/maximumOutputSize``: a block that would go past it is refused before it
/// is decompressed. With ``DecoderOptions/acceptsConcatenatedStreams`` a stream may follow another's trailer.
public final class StreamDecoder {
    /// The most distinct missing fingerprints a decoder tracks; one more ends decoding with `missingChunks`.
    public static let maximumMissingChunks = 1 << 16

    /// The options this decoder was created with.
    public let options: DecoderOptions
    /// The header of the stream being decoded (of the latest one, with concatenated streams), once read.
    public private(set) var header: StreamHeader?
    /// The header of the first stream, once read.
    public private(set) var firstHeader: StreamHeader?
    /// How many streams have begun (more than one only with ``DecoderOptions/acceptsConcatenatedStreams``).
    public private(set) var streamCount = 0
    /// The counters so far, summed over every stream.
    public private(set) var statistics = StreamStatistics()
    /// Whether the trailer of the current stream has been read and verified.
    public private(set) var isComplete = false

    private let store: (any ChunkWriting)?
    private var window = DecoderWindow(capacity: 0)
    private var decompressor = BlockDecompressor()
    private var pending: [UInt8] = []
    /// The stream offset of `pending[0]`.
    private var pendingOffset: UInt64 = 0
    /// Where the current stream starts in the input.
    private var streamStart: UInt64 = 0
    /// The blocks and content bytes of the current stream, which its trailer must match.
    private var streamBlocks: UInt64 = 0
    private var streamContentBytes: UInt64 = 0
    private var fingerprintList: [UInt8] = []
    private let contentCheck: XXH3Stream
    private var failure: (any Error)?
    private var missing: (count: UInt64, first: Fingerprint?, seen: Set<Fingerprint>) = (0, nil, [])
    /// Bytes that transient literals delivered and no chunk has taken yet (format 3): the start of the input's
    /// undecided chunk, at most one chunk. See ``exchangeCarriedBytes(_:)``.
    private var carried: [UInt8] = []
    /// The most carried bytes the current flow may hold (set per payload by a caller that bounds the carried
    /// bytes of all its flows together, as a tunnel link does); past it, decoding fails with `limitExceeded`.
    package var carriedByteAllowance = Int.max
    /// The output at which `decodeFrames` stops and leaves the rest pending (set by `decode(_:pieceSize:deliver:)`).
    private var outputBudget = Int.max
    /// The most output one call may produce (set by `decode(_:into:outputLimit:)`), checked against each block's
    /// declared output length before the block is decompressed.
    private var outputLimit = Int.max

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - options: the memory limit, the output bound, whether streams may be concatenated and, for keyed
    ///     streams, the fingerprinter with the key.
    ///   - store: the store that fingerprint references resolve against and that new chunks are added to
    ///     (the receiving side learns what the sender's store holds), or `nil` for self-contained streams.
    ///     Store references are accepted only in streams whose header has the `storeBacked` flag.
    /// - Throws: ``CodecError`` when a checksum state cannot be allocated.
    public init(options: DecoderOptions = .default, store: (any ChunkWriting)? = nil) throws {
        self.options = options
        self.store = store
        self.contentCheck = try XXH3Stream()
    }

    /// The memory a decoder holds at most for a stream with `header`: the window's chunks with their bookkeeping
    /// (allowing one entry per half average chunk), two stored blocks (input buffering), one decoded body, one
    /// block's output, the block's fingerprint list, the zstd history and context (always: any block may use
    /// zstd), a store-prefixed block's prefix (store-backed streams) and the missing-chunk set.
    ///
    /// A stream is decoded only when this is at most ``DecoderOptions/memoryLimit``.
    public static func memoryNeeded(for header: StreamHeader) -> Int {
        windowNeed(header) + bufferNeed(header)
    }

    private static func windowNeed(_ header: StreamHeader) -> Int {
        let entries = header.windowSize / max(1, header.averageChunkSize / 2) + 1
        return header.windowSize + entries * DecoderWindow.entryOverhead
    }

    /// The zstd window the decoder allows: the header's long-distance window, else every level's own (2^24).
    private static func zstdWindowLog(_ header: StreamHeader) -> Int {
        max(ZstdDecompressor.windowLogMax, header.zstdWindowLog ?? 0)
    }

    private static func bufferNeed(_ header: StreamHeader) -> Int {
        let stored = BlockFormat.blockHeaderSize + BlockFormat.maximumStoredLength(rawLength: header.maximumBodySize)
        let zstd = (1 << zstdWindowLog(header)) + (1 << 20)
        let prefix = header.flags.contains(.storeBacked) ? BlockFormat.prefixLimit : 0
        return 2 * stored + header.maximumBodySize + header.maximumBlockOutput + header.maximumChunkSize
            + BlockFormat.maximumOperations * Fingerprint.byteCount + zstd + prefix + maximumMissingChunks * 48
    }

    /// Puts `other` in place of the bytes delivered ahead of their chunk (by transient literals, format 3) and
    /// returns those it replaces, so that one decoder can serve several interleaved inputs (the tunnel's flows),
    /// the mirror of ``StreamEncoder/exchangeChunker(_:)``. Each holds at most one chunk's bytes.
    public func exchangeCarriedBytes(_ other: [UInt8]) -> [UInt8] {
        let previous = carried
        carried = other
        return previous
    }

    /// Decodes the next piece of the stream, appending verified content to `output`.
    ///
    /// On an error nothing from the failing block is appended.
    ///
    /// - Throws: ``FormatError`` for corrupt, truncated or unsupported input (naming the offset),
    ///   ``ChunkStoreError`` when the store fails.
    public func decode(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws {
        if let failure { throw failure }
        do {
            statistics.encodedBytes &+= UInt64(bytes.count)
            if pending.isEmpty {
                let consumed = try decodeFrames(bytes, into: &output)
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[consumed...]))
                pendingOffset &+= UInt64(consumed)
            } else {
                pending.append(contentsOf: bytes)
                let buffered = pending
                let consumed = try buffered.withUnsafeBytes { buffer in
                    try decodeFrames(buffer, into: &output)
                }
                pending.removeFirst(consumed)
                pendingOffset &+= UInt64(consumed)
            }
        } catch {
            let located = locate(error)
            failure = located
            throw located
        }
    }

    /// With concatenated streams, names the stream in a format error (its offset is already in the whole input).
    private func locate(_ error: any Error) -> any Error {
        guard streamCount > 1, let error = error as? FormatError else { return error }
        return FormatError(
            error.code, at: error.offset,
            "\(error.message) (in stream \(streamCount), which starts at offset \(streamStart))")
    }

    /// Decodes the next piece of the stream like ``decode(_:into:)-(UnsafeRawBufferPointer,_)``, but refuses a
    /// block whose declared output would take `output` past `outputLimit` bytes, before decompressing it: a
    /// caller that knows how much content to expect (a tunnel frame's declared length) spends no more than that.
    ///
    /// - Throws: as ``decode(_:into:)-(UnsafeRawBufferPointer,_)``; ``FormatError`` `outputLimitExceeded` past the limit
    ///   (terminal, like every error).
    public func decode(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8], outputLimit: Int) throws {
        self.outputLimit = outputLimit
        defer { self.outputLimit = .max }
        try decode(bytes, into: &output)
    }

    /// Decodes the bytes of an array. See ``decode(_:into:)-(UnsafeRawBufferPointer,_)``.
    public func decode(_ bytes: [UInt8], into output: inout [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in try decode(buffer, into: &output) }
    }

    /// Decodes the next piece of the stream and hands its verified content to `deliver` in pieces of about
    /// `pieceSize` bytes (exceeded by at most one block's output), so memory stays bounded however redundant
    /// the stream is: a few hundred bytes of references can stand for megabytes of content.
    ///
    /// - Throws: as ``decode(_:into:)-(UnsafeRawBufferPointer,_)``, and whatever `deliver` throws. The
    ///   content of the blocks verified before a failure is delivered first.
    public func decode(
        _ bytes: UnsafeRawBufferPointer, pieceSize: Int, deliver: ([UInt8]) throws -> Void
    ) throws {
        outputBudget = max(1, pieceSize)
        defer { outputBudget = .max }
        var output: [UInt8] = []
        var input = bytes
        while true {
            do {
                try decode(input, into: &output)
            } catch {
                // Blocks verified before the failure (or before bytes that follow the trailer) are sound.
                if !output.isEmpty { try deliver(output) }
                throw error
            }
            // Frames left pending by the budget are decoded by the next call, with no new input.
            input = UnsafeRawBufferPointer(start: nil, count: 0)
            if output.isEmpty { return }
            try deliver(output)
            output.removeAll(keepingCapacity: true)
        }
    }

    /// Decodes like ``decode(_:into:)-(UnsafeRawBufferPointer,_)`` but stops once `output` holds `budget` bytes
    /// (exceeded by at most one block), leaving later frames pending for the next call, even one with no input.
    func decode(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8], budget: Int) throws {
        outputBudget = max(1, budget)
        defer { outputBudget = .max }
        try decode(bytes, into: &output)
    }

    /// Declares the end of input.
    ///
    /// - Throws: ``FormatError`` with code `truncated` when the trailer has not been read, or `missingChunks`
    ///   when the store lacked referenced chunks.
    public func finish() throws {
        if let failure { throw failure }
        if missing.first != nil {
            let error = missingChunksError()
            failure = error
            throw error
        }
        guard isComplete else {
            let end = pendingOffset &+ UInt64(pending.count)
            let place = header == nil ? "inside its header" : pending.isEmpty ? "before its trailer" : "inside a frame"
            let error = locate(FormatError(.truncated, at: end, "the stream ends at \(end) bytes, \(place)"))
            failure = error
            throw error
        }
    }

    private func missingChunksError() -> FormatError {
        FormatError(
            .missingChunks, at: pendingOffset,
            "store \(store?.storeID.description ?? "-") lacks \(missing.count) chunk\(missing.count == 1 ? "" : "s") "
                + "referenced by this stream (first: \(missing.first.map { "\($0)" } ?? "-"))"
                + (header.map { $0.storeID != store?.storeID ? "; the stream names store \($0.storeID)" : "" } ?? ""))
    }

    /// Decodes every complete frame at the start of `bytes` and returns how many bytes they took.
    private func decodeFrames(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws -> Int {
        var position = 0
        while position < bytes.count {
            let offset = pendingOffset &+ UInt64(position)
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            if isComplete {
                guard options.acceptsConcatenatedStreams else {
                    throw FormatError(.trailingData, at: offset, "\(rest.count) bytes follow the trailer")
                }
                try beginNextStream(at: offset)
            }
            guard let header else {
                if rest.count < StreamHeader.size {
                    // Reject a foreign file as soon as its first bytes are in, not at the end of input.
                    let prefix = min(rest.count, 4)
                    if !rest[0..<prefix].elementsEqual(StreamHeader.magic[0..<prefix]) {
                        throw FormatError(
                            .notReplicaStream, at: offset, "the stream does not start with the magic bytes RPLC")
                    }
                    return position
                }
                do {
                    try start(with: StreamHeader.decode(rest))
                } catch let error as FormatError {
                    // Header offsets count from the stream's start.
                    throw FormatError(error.code, at: streamStart &+ error.offset, error.message)
                }
                position += StreamHeader.size
                continue
            }
            switch rest[0] {
            case BlockFormat.blockTag:
                guard rest.count >= BlockFormat.blockHeaderSize else { return position }
                let blockHeader = try BlockHeader.decode(
                    UnsafeRawBufferPointer(rebasing: rest[0..<BlockFormat.blockHeaderSize]), at: offset, limits: header)
                let delivered = statistics.contentBytes
                // `delivered` never exceeds the bound: every block is checked here before it is decoded.
                guard UInt64(blockHeader.outputLength) <= UInt64(options.maximumOutputSize) - delivered else {
                    throw FormatError(
                        .outputLimitExceeded, at: offset,
                        "a block of \(blockHeader.outputLength) bytes after \(delivered) bytes of output exceeds "
                            + "the decoder's output bound of \(options.maximumOutputSize) bytes")
                }
                let frameSize = BlockFormat.blockHeaderSize + blockHeader.storedLength
                guard output.count + blockHeader.outputLength <= outputLimit else {
                    throw FormatError(
                        .outputLimitExceeded, at: offset,
                        "a block declares \(blockHeader.outputLength) bytes of output, past the caller's limit of "
                            + "\(outputLimit) (\(output.count) already decoded)")
                }
                guard rest.count >= frameSize else { return position }
                let stored = UnsafeRawBufferPointer(rebasing: rest[BlockFormat.blockHeaderSize..<frameSize])
                try decodeBlock(blockHeader, stored, at: offset, header: header, into: &output)
                position += frameSize
                if output.count >= outputBudget { return position }
            case BlockFormat.trailerTag:
                guard rest.count >= BlockFormat.trailerSize else { return position }
                let trailer = try StreamTrailer.decode(
                    UnsafeRawBufferPointer(rebasing: rest[0..<BlockFormat.trailerSize]), at: offset)
                try verify(trailer, at: offset)
                isComplete = true
                position += BlockFormat.trailerSize
            case let tag:
                throw FormatError(.corrupt, at: offset, "unknown frame tag \(hex(tag)); expected a block or the trailer")
            }
        }
        return position
    }

    private func start(with header: StreamHeader) throws {
        if header.flags.contains(.keyedFingerprints) && options.fingerprinter.keyCheck != header.keyCheck {
            throw FormatError(
                .wrongKey, at: 56,
                options.fingerprinter.kind == .xxh3
                    ? "the stream's fingerprints are keyed; give the decoder the encoder's key"
                    : "the decoder's fingerprint key is not the encoder's")
        }
        if header.flags.contains(.storeBacked) && store == nil {
            throw FormatError(
                .wrongStore, at: 40, "the stream references chunk store \(header.storeID); decode it with that store")
        }
        let zstdWindowLog = Self.zstdWindowLog(header)
        let needed = Self.memoryNeeded(for: header)
        guard needed <= options.memoryLimit else {
            throw FormatError(
                .limitExceeded, at: 32,
                "the stream needs \(needed) bytes of memory (a \(header.windowSize)-byte window), "
                    + "above the decoder's limit of \(options.memoryLimit)")
        }
        window = DecoderWindow(
            capacity: header.windowSize, memoryBudget: options.memoryLimit - Self.bufferNeed(header))
        decompressor = BlockDecompressor(zstdWindowLog: zstdWindowLog)
        self.header = header
        if firstHeader == nil { firstHeader = header }
        streamCount = max(streamCount, 1)
    }

    /// Resets the per-stream state after a verified trailer, for the stream that starts at `offset`.
    private func beginNextStream(at offset: UInt64) throws {
        header = nil
        isComplete = false
        window = DecoderWindow(capacity: 0)
        decompressor = BlockDecompressor()
        contentCheck.reset()
        streamStart = offset
        streamCount += 1
        streamBlocks = 0
        streamContentBytes = 0
        carried = []
    }

    private func decodeBlock(
        _ blockHeader: BlockHeader, _ stored: UnsafeRawBufferPointer, at offset: UInt64, header: StreamHeader,
        into output: inout [UInt8]
    ) throws {
        let storedCheck = XXHash.hash64(stored)
        guard storedCheck == blockHeader.storedChecksum else {
            throw FormatError(
                .checksumMismatch, at: offset + UInt64(BlockFormat.blockHeaderSize),
                "block payload check \(hex(storedCheck)), expected \(hex(blockHeader.storedChecksum))")
        }
        let body: [UInt8]
        do {
            guard let decoded = try decompressBody(blockHeader, stored, at: offset) else { return }
            body = decoded
        } catch let error as CodecError {
            throw FormatError(.corrupt, at: offset + UInt64(BlockFormat.blockHeaderSize), "\(error)", cause: error)
        }
        let rollback = output.count
        do {
            try rebuild(body, blockHeader, at: offset, header: header, into: &output)
        } catch {
            output.removeSubrange(rollback...)
            throw error
        }
        statistics.blocks &+= 1
        streamBlocks &+= 1
        if blockHeader.encoding == .raw && header.codec != .none { statistics.rawBlocks &+= 1 }
        if blockHeader.encoding == .zstdWithStorePrefix { statistics.prefixedBlocks &+= 1 }
    }

    /// Decompresses a block's body; for a store-prefixed block, first gathers its prefix from the store.
    /// Returns `nil` when prefix chunks are missing (they are counted, and the block is skipped).
    private func decompressBody(
        _ blockHeader: BlockHeader, _ stored: UnsafeRawBufferPointer, at offset: UInt64
    ) throws -> [UInt8]? {
        guard blockHeader.encoding == .zstdWithStorePrefix else {
            return try decompressor.decompress(stored, encoding: blockHeader.encoding, rawLength: blockHeader.rawLength)
        }
        let payloadOffset = offset + UInt64(BlockFormat.blockHeaderSize)
        var reader = ByteReader(stored)
        if let header, header.version >= 2 {
            guard let store else { throw FormatError(.corrupt, at: payloadOffset, "a prefix without a store") }
            guard let prefix = try prefixRuns(&reader, store: store, maximumChunk: header.maximumChunkSize, at: payloadOffset)
            else { return nil }
            let frame = UnsafeRawBufferPointer(rebasing: stored[reader.position...])
            return try prefix.withUnsafeBytes { prefixBytes in
                try decompressor.decompress(
                    frame, encoding: .zstdWithStorePrefix, rawLength: blockHeader.rawLength, prefix: prefixBytes)
            }
        }
        guard let count: UInt16 = reader.readLittleEndian(), count >= 1,
            count <= BlockFormat.maximumPrefixChunks, reader.remaining >= Int(count) * Fingerprint.byteCount
        else {
            throw FormatError(.corrupt, at: payloadOffset, "malformed prefix list")
        }
        var prefix: [UInt8] = []
        var complete = true
        for _ in 0..<count {
            let fingerprint = reader.readFingerprint() ?? Fingerprint(high: 0, low: 0)
            guard let store, let bytes = try store.get(fingerprint) else {
                try noteMissing(fingerprint)
                complete = false
                continue
            }
            guard prefix.count + bytes.count <= BlockFormat.prefixBudget + (16 << 20) else {
                throw FormatError(.limitExceeded, at: payloadOffset, "prefix chunks exceed the prefix budget")
            }
            prefix += bytes
        }
        guard complete, missing.count == 0 else { return nil }
        let frame = UnsafeRawBufferPointer(rebasing: stored[reader.position...])
        return try prefix.withUnsafeBytes { prefixBytes in
            try decompressor.decompress(
                frame, encoding: .zstdWithStorePrefix, rawLength: blockHeader.rawLength, prefix: prefixBytes)
        }
    }

    /// The prefix of a format-2 store-prefixed block: its runs of stored chunks, resolved and concatenated, or
    /// `nil` when the store lacks a run's first chunk (counted as missing).
    private func prefixRuns(
        _ reader: inout ByteReader, store: any ChunkWriting, maximumChunk: Int, at offset: UInt64
    ) throws -> [UInt8]? {
        guard let runCount: UInt16 = reader.readLittleEndian(), runCount >= 1,
            runCount <= BlockFormat.maximumPrefixChunks
        else {
            throw FormatError(.corrupt, at: offset, "malformed prefix list")
        }
        var prefix: [UInt8] = []
        var chunkCount = 0
        var complete = true
        for _ in 0..<runCount {
            guard let first = reader.readFingerprint(), let count: UInt8 = reader.readLittleEndian(), count >= 1 else {
                throw FormatError(.corrupt, at: offset, "malformed prefix run")
            }
            chunkCount += Int(count)
            let check: UInt64
            if count > 1 {
                guard let stored: UInt64 = reader.readLittleEndian() else {
                    throw FormatError(.corrupt, at: offset, "malformed prefix run")
                }
                check = stored
            } else {
                var canonical: [UInt8] = []
                canonical.appendCanonical(first)
                check = canonical.withUnsafeBytes { XXHash.hash64($0) }
            }
            guard chunkCount <= BlockFormat.maximumPrefixChunks else {
                throw FormatError(.corrupt, at: offset, "prefix runs name more than 255 chunks")
            }
            guard
                let chunks = try resolveRun(
                    from: first, count: Int(count), check: check, store: store, maximumChunk: maximumChunk, at: offset)
            else {
                complete = false
                continue
            }
            for chunk in chunks {
                guard prefix.count + chunk.bytes.count <= BlockFormat.prefixBudget + maximumChunk else {
                    throw FormatError(.limitExceeded, at: offset, "prefix chunks exceed the prefix budget")
                }
                prefix += chunk.bytes
            }
        }
        return complete && missing.count == 0 ? prefix : nil
    }

    /// Replays a block's operations into `output` and verifies the block check.
    ///
    /// Literal chunks enter the window as copies, so `body` is freed with the block however few bytes of it
    /// the window keeps.
    private func rebuild(
        _ body: [UInt8], _ blockHeader: BlockHeader, at offset: UInt64, header: StreamHeader,
        into output: inout [UInt8]
    ) throws {
        func corrupt(_ message: String) -> FormatError { FormatError(.corrupt, at: offset, "block: " + message) }
        guard body.count >= 8 else { throw corrupt("body of \(body.count) bytes is shorter than its counts") }
        let (operationCount, operationsLength) = body.withUnsafeBytes { buffer in
            (
                Int(buffer.loadUnaligned(fromByteOffset: buffer.count - 8, as: UInt32.self).littleEndian),
                Int(buffer.loadUnaligned(fromByteOffset: buffer.count - 4, as: UInt32.self).littleEndian)
            )
        }
        guard operationCount <= BlockFormat.maximumOperations, operationsLength <= body.count - 8 else {
            throw corrupt("\(operationCount) operations in \(operationsLength) bytes do not fit the body")
        }
        let literalEnd = body.count - 8 - operationsLength
        var literalCursor = 0
        fingerprintList.removeAll(keepingCapacity: true)
        let start = output.count
        let maximumChunk = header.maximumChunkSize
        // The bytes a skip (format 3) says the next operation's chunk begins with, already delivered.
        var skip = 0
        try body.withUnsafeBytes { buffer in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[literalEnd..<(body.count - 8)]))
            for _ in 0..<operationCount {
                guard let word = reader.readVarint() else { throw corrupt("operations end early") }
                let value = word >> 2
                // A skip applies to the chunk of this operation only.
                let delivered = skip
                skip = 0
                switch BlockFormat.Operation(rawValue: word & 3) {
                case .literal where word == 0 && header.version >= 3:
                    guard delivered == 0 else {
                        throw corrupt("a skip is followed by another skip or a transient literal, not by a chunk")
                    }
                    guard let code: UInt8 = reader.readLittleEndian(), let length = reader.readVarint() else {
                        throw corrupt("operations end early")
                    }
                    guard length >= 1, length <= UInt64(maximumChunk) else {
                        throw corrupt("a transient literal or skip of \(length) bytes; 1 to \(maximumChunk) allowed")
                    }
                    switch BlockFormat.ExtendedOperation(rawValue: code) {
                    case .transientLiteral:
                        guard Int(length) <= literalEnd - literalCursor else {
                            throw corrupt("transient literal of \(length) bytes overruns the literal section")
                        }
                        let range = literalCursor..<(literalCursor + Int(length))
                        literalCursor = range.upperBound
                        let bytes = UnsafeRawBufferPointer(rebasing: buffer[range])
                        try carry(body[range], maximumChunk: maximumChunk, at: offset)
                        try appendOutput(
                            options.fingerprinter.fingerprint(bytes), body[range], toWindow: false, limit: blockHeader.outputLength, start: start,
                            output: &output, offset: offset)
                        statistics.transientLiterals &+= 1
                        statistics.transientBytes &+= length
                    case .transientStorePrefix:
                        guard let fingerprint = reader.readFingerprint() else { throw corrupt("operations end early") }
                        guard header.flags.contains(.storeBacked), let store else {
                            throw corrupt("transient store prefix in a stream without a store")
                        }
                        guard let bytes = try store.get(fingerprint), bytes.count <= maximumChunk, !bytes.isEmpty
                        else {
                            try noteMissing(fingerprint)
                            continue
                        }
                        guard length <= UInt64(bytes.count) else {
                            throw corrupt(
                                "a transient store prefix of \(length) bytes is longer than its chunk of \(bytes.count)")
                        }
                        let prefix = bytes[0..<Int(length)]
                        try carry(prefix, maximumChunk: maximumChunk, at: offset)
                        let check = prefix.withUnsafeBytes { options.fingerprinter.fingerprint($0) }
                        try appendOutput(
                            check, prefix, toWindow: false, limit: blockHeader.outputLength, start: start,
                            output: &output, offset: offset)
                        statistics.transientLiterals &+= 1
                        statistics.transientBytes &+= length
                    case .skip:
                        guard Int(length) <= carried.count else {
                            throw corrupt(
                                "a skip of \(length) bytes, but only \(carried.count) bytes were delivered ahead of "
                                    + "their chunk")
                        }
                        skip = Int(length)
                        statistics.skippedBytes &+= length
                    case nil:
                        throw corrupt("unknown extended operation \(code)")
                    }
                    continue
                case .literal:
                    // After a skip, the literal section holds only the chunk's bytes after the delivered ones.
                    guard value >= 1, value <= UInt64(maximumChunk), value >= UInt64(delivered),
                        Int(value) - delivered <= literalEnd - literalCursor
                    else {
                        throw corrupt("literal of \(value) bytes overruns the literal section or the chunk limit")
                    }
                    let range = literalCursor..<(literalCursor + Int(value) - delivered)
                    literalCursor = range.upperBound
                    let chunk = delivered == 0 ? Array(body[range]) : Array(carried[0..<delivered]) + body[range]
                    let fingerprint = chunk.withUnsafeBytes { options.fingerprinter.fingerprint($0) }
                    try takeCarried(delivered, chunk: chunk[...], at: offset)
                    // One copy of the chunk serves the window and the store (a memory store keeps it as it is).
                    try appendOutput(
                        fingerprint, chunk[...], skipping: delivered, toWindow: true, limit: blockHeader.outputLength,
                        start: start, output: &output, offset: offset, windowCopy: chunk)
                    try store?.put(chunk, as: fingerprint)
                    statistics.literalChunks &+= 1
                    statistics.literalBytes &+= value
                case .windowReference:
                    guard let chunk = window.chunk(at: value) else {
                        if missing.count > 0 { continue }
                        guard window.droppedForMemory == 0 else {
                            throw FormatError(
                                .limitExceeded, at: offset,
                                "block: reference \(value) chunks back, but the window holds \(window.count): "
                                    + "\(window.droppedForMemory) older chunks were dropped to stay within the "
                                    + "memory limit of \(options.memoryLimit) bytes (the stream's chunks are small)")
                        }
                        throw corrupt("reference \(value) chunks back, but the window holds \(window.count)")
                    }
                    try takeCarried(delivered, chunk: chunk.bytes[...], at: offset)
                    try appendOutput(
                        chunk.fingerprint, chunk.bytes[...], skipping: delivered, toWindow: false,
                        limit: blockHeader.outputLength, start: start, output: &output, offset: offset)
                    statistics.windowReferences &+= 1
                    statistics.windowReferenceBytes &+= UInt64(chunk.bytes.count)
                case .storeReference:
                    guard value == 0, let fingerprint = reader.readFingerprint() else {
                        throw corrupt("malformed store reference")
                    }
                    guard header.flags.contains(.storeBacked) else {
                        throw corrupt("store reference in a self-contained stream (its header has no store flag)")
                    }
                    guard let store else { throw corrupt("store reference in a stream without a store") }
                    guard let bytes = try store.get(fingerprint), bytes.count <= maximumChunk, !bytes.isEmpty else {
                        try noteMissing(fingerprint)
                        continue
                    }
                    try takeCarried(delivered, chunk: bytes[...], at: offset)
                    try appendOutput(
                        fingerprint, bytes[...], skipping: delivered, toWindow: true, limit: blockHeader.outputLength,
                        start: start, output: &output, offset: offset, windowCopy: bytes)
                    statistics.storeReferences &+= 1
                    statistics.storeReferenceBytes &+= UInt64(bytes.count)
                case .storeRun where header.version >= 2:
                    guard value >= 2, value <= UInt64(BlockFormat.maximumRunChunks),
                        let first = reader.readFingerprint(), let check: UInt64 = reader.readLittleEndian()
                    else {
                        throw corrupt("malformed store run")
                    }
                    guard header.flags.contains(.storeBacked) else {
                        throw corrupt("store run in a self-contained stream (its header has no store flag)")
                    }
                    guard let store else { throw corrupt("store run in a stream without a store") }
                    guard
                        let chunks = try resolveRun(
                            from: first, count: Int(value), check: check, store: store, maximumChunk: maximumChunk,
                            at: offset)
                    else { continue }
                    if let first = chunks.first { try takeCarried(delivered, chunk: first.bytes[...], at: offset) }
                    for (index, chunk) in chunks.enumerated() {
                        try appendOutput(
                            chunk.fingerprint, chunk.bytes[...], skipping: index == 0 ? delivered : 0, toWindow: true,
                            limit: blockHeader.outputLength, start: start, output: &output, offset: offset,
                            windowCopy: chunk.bytes)
                        statistics.storeReferenceBytes &+= UInt64(chunk.bytes.count)
                    }
                    statistics.storeReferences &+= value
                    statistics.storeRuns &+= 1
                    statistics.chunks &+= value - 1
                case .storeRun, nil:
                    throw corrupt("unknown operation kind \(word & 3)")
                }
                statistics.chunks &+= 1
            }
            guard skip == 0 else { throw corrupt("the block ends with a skip of \(skip) bytes and no chunk after it") }
            guard reader.remaining == 0 else { throw corrupt("\(reader.remaining) bytes follow the operations") }
        }
        guard literalCursor == literalEnd else {
            throw corrupt("literal section holds \(literalEnd) bytes, operations use \(literalCursor)")
        }
        if missing.count > 0 {
            // Chunks are missing: keep scanning to count them all, but deliver nothing more.
            output.removeSubrange(start...)
            return
        }
        guard output.count - start == blockHeader.outputLength else {
            throw corrupt("block rebuilt to \(output.count - start) bytes, header says \(blockHeader.outputLength)")
        }
        let check = fingerprintList.withUnsafeBytes { XXHash.hash64($0) }
        guard check == blockHeader.outputChecksum else {
            throw FormatError(
                .checksumMismatch, at: offset + 24,
                "block content check \(hex(check)), expected \(hex(blockHeader.outputChecksum))")
        }
        fingerprintList.withUnsafeBytes { contentCheck.update($0) }
        statistics.contentBytes &+= UInt64(blockHeader.outputLength)
        streamContentBytes &+= UInt64(blockHeader.outputLength)
    }

    /// The chunks of a store run: `first` and its successors in `store`'s order, checked against the run check.
    ///
    /// Returns `nil` when the store lacks the first chunk (counted as missing, like a store reference).
    /// - Throws: ``FormatError`` `storeOrderMismatch` when the store's order does not reproduce the run: a
    ///   later chunk is missing, another chunk follows, or the fingerprints do not hash to `check`. The
    ///   receiver's store then holds its chunks in another order than the sender's (after an eviction, or
    ///   when it learned them from another source); nothing of the block is delivered.
    private func resolveRun(
        from first: Fingerprint, count: Int, check: UInt64, store: any ChunkWriting, maximumChunk: Int,
        at offset: UInt64
    ) throws -> [(fingerprint: Fingerprint, bytes: [UInt8])]? {
        func mismatch(_ reason: String) -> FormatError {
            FormatError(
                .storeOrderMismatch, at: offset,
                "a run of \(count) stored chunks from \(first) does not follow store \(store.storeID)'s order "
                    + "(\(reason)); the receiver's store must hold the sender's chunks in the order they were sent")
        }
        var chunks: [(fingerprint: Fingerprint, bytes: [UInt8])] = []
        var fingerprints: [UInt8] = []
        var fingerprint = first
        for index in 0..<count {
            if index > 0 {
                guard let next = store.successor(of: fingerprint) else {
                    throw mismatch("no chunk follows chunk \(index) of the run")
                }
                fingerprint = next
            }
            guard let bytes = try store.get(fingerprint), bytes.count <= maximumChunk, !bytes.isEmpty else {
                if index == 0 {
                    try noteMissing(first, chunks: count)
                    return nil
                }
                throw mismatch("chunk \(index + 1), \(fingerprint), is missing")
            }
            fingerprints.appendCanonical(fingerprint)
            chunks.append((fingerprint, bytes))
        }
        let computed = fingerprints.withUnsafeBytes { XXHash.hash64($0) }
        guard computed == check else {
            throw mismatch("the run check is \(hex(check)), the store's chunks give \(hex(computed))")
        }
        return chunks
    }

    /// Keeps bytes a transient literal delivered, for the chunk they begin: at most one chunk's worth.
    private func carry(_ bytes: ArraySlice<UInt8>, maximumChunk: Int, at offset: UInt64) throws {
        guard carried.count + bytes.count <= maximumChunk else {
            throw FormatError(
                .corrupt, at: offset,
                "block: \(carried.count + bytes.count) transient bytes wait for their chunk, more than one chunk "
                    + "(\(maximumChunk) bytes)")
        }
        guard carried.count + bytes.count <= carriedByteAllowance else {
            throw FormatError(
                .limitExceeded, at: offset,
                "block: \(carried.count + bytes.count) transient bytes would wait for their chunk, above the "
                    + "\(carriedByteAllowance) bytes this flow may hold (the bytes delivered ahead of their chunks "
                    + "are bounded across all flows)")
        }
        carried += bytes
    }

    /// Takes the first `count` carried bytes for `chunk`, which must begin with them.
    private func takeCarried(_ count: Int, chunk: ArraySlice<UInt8>, at offset: UInt64) throws {
        guard count > 0 else { return }
        guard count <= chunk.count, chunk.prefix(count).elementsEqual(carried[0..<count]) else {
            throw FormatError(
                .corrupt, at: offset,
                "block: a chunk of \(chunk.count) bytes does not begin with the \(count) bytes delivered ahead of it")
        }
        carried.removeFirst(count)
    }

    /// Appends one chunk to the output (less its first `skipping` bytes, which were delivered before) and to the
    /// window, within the block's declared output length.
    ///
    /// - Parameter windowCopy: the chunk's bytes as an array the window may keep (no copy), when the caller has one.
    private func appendOutput(
        _ fingerprint: Fingerprint, _ bytes: ArraySlice<UInt8>, skipping: Int = 0, toWindow: Bool, limit: Int,
        start: Int, output: inout [UInt8], offset: UInt64, windowCopy: [UInt8]? = nil
    ) throws {
        guard skipping <= bytes.count else {
            throw FormatError(
                .corrupt, at: offset, "block: a skip of \(skipping) bytes is longer than its chunk of \(bytes.count)")
        }
        let delivered = bytes.dropFirst(skipping)
        guard output.count - start + delivered.count <= limit else {
            throw FormatError(.corrupt, at: offset, "block: content exceeds the declared \(limit) bytes")
        }
        if missing.count == 0 { output += delivered }
        fingerprintList.appendCanonical(fingerprint)
        if toWindow { window.append(fingerprint, windowCopy ?? Array(bytes)) }
    }

    /// Counts a chunk the store lacks, or the `chunks` of a run whose first chunk it lacks, once per fingerprint;
    /// past ``maximumMissingChunks`` distinct ones, decoding ends.
    private func noteMissing(_ fingerprint: Fingerprint, chunks: Int = 1) throws {
        guard !missing.seen.contains(fingerprint) else { return }
        guard missing.seen.count < Self.maximumMissingChunks else {
            missing.count += UInt64(chunks)
            statistics.missingChunks = missing.count
            throw missingChunksError()
        }
        missing.seen.insert(fingerprint)
        missing.count += UInt64(chunks)
        if missing.first == nil { missing.first = fingerprint }
        statistics.missingChunks = missing.count
    }

    private func verify(_ trailer: StreamTrailer, at offset: UInt64) throws {
        guard missing.count == 0 else { return }
        guard carried.isEmpty else {
            throw FormatError(
                .corrupt, at: offset, "the stream ends with \(carried.count) transient bytes that no chunk took")
        }
        guard trailer.blockCount == streamBlocks else {
            throw FormatError(
                .corrupt, at: offset, "trailer counts \(trailer.blockCount) blocks, the stream held \(streamBlocks)")
        }
        guard trailer.contentLength == streamContentBytes else {
            throw FormatError(
                .corrupt, at: offset,
                "trailer declares \(trailer.contentLength) content bytes, the blocks held \(streamContentBytes)")
        }
        guard trailer.contentChecksum == contentCheck.digest else {
            throw FormatError(
                .checksumMismatch, at: offset + 12,
                "content check \(hex(contentCheck.digest)), trailer says \(hex(trailer.contentChecksum))")
        }
    }
}
