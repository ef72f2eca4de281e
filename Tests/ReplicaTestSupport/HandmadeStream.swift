package import ReplicaCore

/// Builds Replica streams byte by byte, with every checksum recomputed, so tests reach the parser and the
/// decoder's limits with input that no encoder writes (the layout is `docs/FORMAT.md`).
package struct HandmadeStream {
    /// One operation of a block body.
    package enum Operation {
        /// A new chunk with these bytes.
        case literal([UInt8])
        /// The chunk this many places back in the window (1 is the newest).
        case windowReference(UInt64)
        /// A chunk named by fingerprint, with its bytes (which the stream does not carry).
        case storeReference([UInt8])
        /// Format 3: bytes delivered but forming no chunk.
        case transient([UInt8])
        /// Format 3: the next operation's chunk begins with this many bytes already delivered.
        case skip(Int)
        /// Format 3: an escape with any code byte and value, as no encoder writes it.
        case extended(code: UInt8, value: UInt64)
    }

    /// How a block's body is stored.
    package enum Storage {
        case raw
        /// The next part of the stream's continuous zstd frame; `extra` bytes are compressed after the body,
        /// so the block decodes to more than its raw length.
        case zstd(extra: [UInt8] = [])
    }

    /// The stream so far.
    package private(set) var bytes: [UInt8] = []
    private let fingerprinter = Fingerprinter()
    private var window: [(fingerprint: Fingerprint, length: Int)] = []
    private var contentList: [UInt8] = []
    private var contentLength: UInt64 = 0
    private var blockCount: UInt64 = 0
    private var zstd: ZstdCompressor?

    /// Starts a stream with a header of these parameters (codec zstd level 3, FastCDC 2020, unkeyed), of format
    /// `version`.
    package init(
        windowSize: Int, blockSize: Int = 4 << 10, minimumChunk: Int = 64, averageChunk: Int = 64,
        maximumChunk: Int = 64 << 10, codec: CodecKind = .zstd, storeID: StoreID? = nil, version: UInt8 = 1
    ) {
        var header: [UInt8] = [0x52, 0x50, 0x4C, 0x43, version, storeID == nil ? 0 : 1]
        header.appendLE(UInt16(64))
        header += [2, 2, 0, 0]
        header.appendLE(UInt32(minimumChunk))
        header.appendLE(UInt32(averageChunk))
        header.appendLE(UInt32(maximumChunk))
        header += [codec.rawValue, 3, 1, 0]
        header.appendLE(UInt32(blockSize))
        header.appendLE(UInt64(windowSize))
        header += storeID?.bytes ?? [UInt8](repeating: 0, count: 16)
        header.appendLE(UInt32(0))
        header.appendCheck32(from: 0)
        bytes = header
    }

    /// The raw body of `operations`: literal bytes, then one varint per operation, then the two counts.
    package static func body(_ operations: [Operation]) -> [UInt8] {
        var literals: [UInt8] = []
        var encoded: [UInt8] = []
        var skip = 0
        for operation in operations {
            let skipped = skip
            skip = 0
            switch operation {
            case .literal(let chunk):
                // After a skip, the literal section holds only the chunk's bytes after the delivered ones.
                literals += chunk.dropFirst(skipped)
                encoded.appendVarint(UInt64(chunk.count) << 2)
            case .windowReference(let distance):
                encoded.appendVarint(distance << 2 | 1)
            case .storeReference(let chunk):
                encoded.appendVarint(2)
                encoded += Fingerprinter().fingerprint(chunk).canonicalBytes
            case .transient(let bytes):
                literals += bytes
                encoded += [0, 1]
                encoded.appendVarint(UInt64(bytes.count))
            case .skip(let count):
                skip = count
                encoded += [0, 2]
                encoded.appendVarint(UInt64(count))
            case .extended(let code, let value):
                encoded += [0, code]
                encoded.appendVarint(value)
            }
        }
        var body = literals + encoded
        body.appendLE(UInt32(operations.count))
        body.appendLE(UInt32(encoded.count))
        return body
    }

    /// Appends a block of `operations`, its body stored as `storage`.
    package mutating func appendBlock(_ operations: [Operation], storage: Storage = .raw) throws {
        var fingerprints: [UInt8] = []
        var output = 0
        var skip = 0
        for operation in operations {
            let fingerprint: Fingerprint
            let skipped = skip
            skip = 0
            switch operation {
            case .literal(let chunk), .storeReference(let chunk):
                fingerprint = fingerprinter.fingerprint(chunk)
                window.append((fingerprint, chunk.count))
                output += max(0, chunk.count - skipped)
            case .windowReference(let distance):
                let entry = window[window.count - Int(distance)]
                fingerprint = entry.fingerprint
                output += max(0, entry.length - skipped)
            case .transient(let bytes):
                fingerprint = fingerprinter.fingerprint(bytes)
                output += bytes.count
            case .skip(let count):
                skip = count
                continue
            case .extended:
                continue
            }
            fingerprints += fingerprint.canonicalBytes
        }
        try appendBlock(body: Self.body(operations), fingerprints: fingerprints, outputLength: output, storage: storage)
    }

    /// Appends a block with a prepared raw `body` whose chunks have these canonical `fingerprints` and whose
    /// content is `outputLength` bytes.
    package mutating func appendBlock(
        body: [UInt8], fingerprints: [UInt8], outputLength: Int? = nil, storage: Storage = .raw
    ) throws {
        let stored: [UInt8]
        let encoding: UInt8
        switch storage {
        case .raw:
            stored = body
            encoding = 0
        case .zstd(let extra):
            if zstd == nil { zstd = try ZstdCompressor(level: 3) }
            var compressed: [UInt8] = []
            try (body + extra).withUnsafeBytes { try zstd?.compressFlushed($0, appendingTo: &compressed) }
            stored = compressed
            encoding = 2
        }
        let length = outputLength ?? Self.outputLength(of: body)
        var header: [UInt8] = [0x42, encoding, 0, 0]
        header.appendLE(UInt32(body.count))
        header.appendLE(UInt32(stored.count))
        header.appendLE(UInt32(length))
        header.appendLE(stored.withUnsafeBytes { XXHash.hash64($0) })
        header.appendLE(fingerprints.withUnsafeBytes { XXHash.hash64($0) })
        header.appendCheck32(from: 0)
        bytes += header + stored
        contentList += fingerprints
        contentLength += UInt64(length)
        blockCount += 1
    }

    /// The content length of a body made of literals only.
    private static func outputLength(of body: [UInt8]) -> Int {
        let operationsLength = body.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        return body.count - 8 - operationsLength
    }

    /// Appends the trailer and returns the whole stream.
    package mutating func finish(contentLength declared: UInt64? = nil) -> [UInt8] {
        var trailer: [UInt8] = [0x54, 0, 0, 0]
        trailer.appendLE(declared ?? contentLength)
        trailer.appendLE(contentList.withUnsafeBytes { XXHash.hash64($0) })
        trailer.appendLE(blockCount)
        trailer.appendCheck32(from: 0)
        bytes += trailer
        return bytes
    }
}

extension [UInt8] {
    fileprivate mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { self.append(contentsOf: $0) }
    }

    fileprivate mutating func appendCheck32(from start: Int) {
        let check = withUnsafeBytes { UInt32(truncatingIfNeeded: XXHash.hash64(UnsafeRawBufferPointer(rebasing: $0[start...]))) }
        appendLE(check)
    }

    fileprivate mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        append(UInt8(rest))
    }
}
