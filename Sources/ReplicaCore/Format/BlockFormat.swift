/// The frames that follow the header: data blocks (`B`) and the trailer (`T`). See `docs/FORMAT.md`.
enum BlockFormat {
    /// The tag of a data block.
    static let blockTag: UInt8 = 0x42
    /// The tag of the trailer.
    static let trailerTag: UInt8 = 0x54
    /// The size of a data block's header.
    static let blockHeaderSize = 36
    /// The size of the trailer.
    static let trailerSize = 32
    /// The most operations (literals and references) one block may hold.
    static let maximumOperations = 16_384

    /// The output at which the encoder closes a block: eight times the literal target, so blocks of references
    /// stay bounded too.
    static func outputLimit(blockSize: Int) -> Int { blockSize * 8 }

    /// The most chunks one store run may stand for (the block's output limit bounds it too).
    static let maximumRunChunks = 1 << 16

    /// The most store chunks one block may name as its compression prefix.
    static let maximumPrefixChunks = 255
    /// The most prefix bytes the encoder gathers for one block.
    static let prefixBudget = 2 << 20
    /// The most prefix bytes a decoder gathers for one block: the budget plus one chunk of the largest size.
    static let prefixLimit = prefixBudget + ChunkerConfiguration.largestMaximumSize
    /// The size of the largest prefix list: a u16 count and that many fingerprints.
    static let largestPrefixList = 2 + Fingerprint.byteCount * maximumPrefixChunks

    /// The most stored bytes a block of `rawLength` bytes may take (compressed data can grow a little).
    static func maximumStoredLength(rawLength: Int) -> Int {
        ZstdCompressor.bound(rawLength) + 64 + largestPrefixList
    }

    /// How a block's body is stored (byte 1 of the block header).
    enum Encoding: UInt8 {
        /// The raw body.
        case raw = 0
        /// One LZ4 block.
        case lz4 = 1
        /// The next flushed part of the stream's one continuous zstd frame (`ZSTD_e_flush`): it decodes only
        /// after every earlier zstd block of the stream, with their history.
        case zstd = 2
        /// A prefix list (u16 count, then that many fingerprints), then a zstd frame compressed with the
        /// concatenation of those store chunks as its prefix (`ZSTD_CCtx_refPrefix`). Store-backed streams only.
        case zstdWithStorePrefix = 3

    }

    /// The kinds of operation in a block body, in the low two bits of each operation's varint.
    enum Operation: UInt64 {
        /// The next `value` bytes of the literal section form a new chunk.
        case literal = 0
        /// The chunk `value` places back in the reference window (1 is the newest).
        case windowReference = 1
        /// A chunk named by the 16-byte fingerprint that follows, held by the decoder's store.
        case storeReference = 2
        /// `value` (at least 2) chunks held by the decoder's store, one after another in the store's order: the
        /// 16-byte fingerprint of the first, then XXH3-64 (8 bytes, little-endian) of all their fingerprints.
        /// Format version 2 and later.
        case storeRun = 3
    }

    /// The operations of format 3 that follow an escape: an operation word of 0 (a literal of 0 bytes, invalid
    /// before format 3), then this code byte, then a varint.
    enum ExtendedOperation: UInt8 {
        /// The next `value` bytes of the literal section are delivered but form no chunk: the start of a chunk
        /// whose end was not decided at a flush. Not stored, not in the window; their XXH3-128 joins the
        /// block's content check.
        case transientLiteral = 1
        /// The chunk of the next operation (the first chunk of a store run) begins with `value` bytes already
        /// delivered (by transient literals): it is stored and enters the window whole, and only its bytes
        /// after the first `value` are output.
        case skip = 2
        /// Like a transient literal, but the `value` bytes are the first bytes of a chunk the decoder's store
        /// holds, named by the 16-byte fingerprint that follows the varint: a flush inside a chunk that is
        /// probably the stored one (the encoder checked that its bytes so far match). Store-backed streams only.
        case transientStorePrefix = 3
    }
}

/// The header of one data block.
struct BlockHeader {
    var encoding: BlockFormat.Encoding
    var rawLength: Int
    var storedLength: Int
    var outputLength: Int
    var storedChecksum: UInt64
    var outputChecksum: UInt64

    func encode(appendingTo bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(BlockFormat.blockTag)
        bytes.append(encoding.rawValue)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt32(rawLength))
        bytes.appendLittleEndian(UInt32(storedLength))
        bytes.appendLittleEndian(UInt32(outputLength))
        bytes.appendLittleEndian(storedChecksum)
        bytes.appendLittleEndian(outputChecksum)
        bytes.appendCheck32(from: start)
    }

    /// Parses a block header (after the tag was seen) and checks it against the stream's limits.
    static func decode(
        _ bytes: UnsafeRawBufferPointer, at offset: UInt64, limits header: StreamHeader
    ) throws(FormatError) -> BlockHeader {
        var reader = ByteReader(bytes)
        let stored = bytes.loadUnaligned(fromByteOffset: 32, as: UInt32.self).littleEndian
        let computed = check32(UnsafeRawBufferPointer(rebasing: bytes[0..<32]))
        guard stored == computed else {
            throw FormatError(
                .checksumMismatch, at: offset, "block header check \(hex(stored)), computed \(hex(computed))")
        }
        _ = reader.readLittleEndian(as: UInt8.self)
        let codecCode: UInt8 = reader.readLittleEndian() ?? 0
        let reserved: UInt16 = reader.readLittleEndian() ?? 0
        let rawLength = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let storedLength = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let outputLength = Int(reader.readLittleEndian(as: UInt32.self) ?? 0)
        let storedChecksum: UInt64 = reader.readLittleEndian() ?? 0
        let outputChecksum: UInt64 = reader.readLittleEndian() ?? 0
        guard let encoding = BlockFormat.Encoding(rawValue: codecCode) else {
            throw FormatError(.unsupportedFeature, at: offset + 1, "unknown block codec \(codecCode)")
        }
        if encoding == .zstdWithStorePrefix && !header.flags.contains(.storeBacked) {
            throw FormatError(.corrupt, at: offset + 1, "a store-prefixed block in a stream without a store")
        }
        guard reserved == 0 else {
            throw FormatError(.corrupt, at: offset + 2, "reserved bytes are \(reserved), expected 0")
        }
        guard rawLength <= header.maximumBodySize else {
            throw FormatError(
                .limitExceeded, at: offset + 4,
                "block body of \(rawLength) bytes exceeds the stream's limit of \(header.maximumBodySize)")
        }
        let storedLimit = encoding == .raw ? rawLength : BlockFormat.maximumStoredLength(rawLength: rawLength)
        guard storedLength <= storedLimit, encoding != .raw || storedLength == rawLength else {
            throw FormatError(
                .corrupt, at: offset + 8, "stored length \(storedLength) does not fit raw length \(rawLength)")
        }
        guard outputLength <= header.maximumBlockOutput else {
            throw FormatError(
                .limitExceeded, at: offset + 12,
                "block output of \(outputLength) bytes exceeds the stream's limit of \(header.maximumBlockOutput)")
        }
        return BlockHeader(
            encoding: encoding, rawLength: rawLength, storedLength: storedLength, outputLength: outputLength,
            storedChecksum: storedChecksum, outputChecksum: outputChecksum)
    }
}

/// The trailer: the total length, the whole-content checksum and the number of blocks.
struct StreamTrailer {
    var contentLength: UInt64
    var contentChecksum: UInt64
    var blockCount: UInt64

    func encode(appendingTo bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(BlockFormat.trailerTag)
        bytes += [0, 0, 0]
        bytes.appendLittleEndian(contentLength)
        bytes.appendLittleEndian(contentChecksum)
        bytes.appendLittleEndian(blockCount)
        bytes.appendCheck32(from: start)
    }

    /// The content length a complete stream's trailer declares, if its last bytes hold a valid trailer.
    /// A hint for reserving memory only: the decoder still verifies everything.
    static func declaredContentLength(of stream: [UInt8]) -> Int? {
        guard stream.count >= StreamHeader.size + BlockFormat.trailerSize else { return nil }
        return stream.withUnsafeBytes { buffer in
            let tail = UnsafeRawBufferPointer(rebasing: buffer[(buffer.count - BlockFormat.trailerSize)...])
            guard tail[0] == BlockFormat.trailerTag, let trailer = try? decode(tail, at: 0) else { return nil }
            return Int(exactly: trailer.contentLength)
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(FormatError) -> StreamTrailer {
        let stored = bytes.loadUnaligned(fromByteOffset: 28, as: UInt32.self).littleEndian
        let computed = check32(UnsafeRawBufferPointer(rebasing: bytes[0..<28]))
        guard stored == computed else {
            throw FormatError(.checksumMismatch, at: offset, "trailer check \(hex(stored)), computed \(hex(computed))")
        }
        var reader = ByteReader(bytes)
        _ = reader.readLittleEndian(as: UInt32.self)
        return StreamTrailer(
            contentLength: reader.readLittleEndian() ?? 0, contentChecksum: reader.readLittleEndian() ?? 0,
            blockCount: reader.readLittleEndian() ?? 0)
    }
}
