/// Compresses block bodies with one codec, storing a body raw when compressing would not pay.
///
/// - zstd: one continuous stream for the whole Replica stream (`ZSTD_e_flush` per block), so every block
///   compresses against the history of all zstd blocks before it, as if the content were one zstd frame.
///   Every block of 64 bytes or more goes through it: data that looks random locally may still match the
///   history (an edited copy of earlier content), and zstd stores incompressible input as raw zstd blocks at
///   about 3 GB/s, so there is little to gain from deciding "raw" up front. Store-prefixed blocks use a
///   second, one-shot context.
/// - lz4: independent blocks with a reused state, stored raw when they do not shrink; after such a block the
///   next ones are first probed with LZ4 on a sample.
final class BlockCompressor {
    let configuration: CodecConfiguration
    private let zstdStream: ZstdCompressor?
    private var zstdOneShot: ZstdCompressor?
    private let lz4: LZ4Compressor?
    private let probe = LZ4Compressor(level: 1)
    private var scratch: [UInt8] = []
    private var probeScratch: [UInt8] = []
    private var incompressibleRun = 0

    /// Bodies smaller than this are stored raw: compressing them saves less than a block header.
    static let smallestCompressedBody = 64
    /// The size of the sample that probes for incompressible data.
    static let probeSize = 16 << 10

    init(_ configuration: CodecConfiguration) throws {
        self.configuration = configuration
        zstdStream =
            configuration.kind == .zstd
            ? try ZstdCompressor(level: configuration.level, longDistanceWindowLog: configuration.longWindowLog) : nil
        lz4 = configuration.kind == .lz4 ? LZ4Compressor(level: configuration.level) : nil
    }

    /// Compresses `body` and returns the stored bytes with their encoding, or `nil` when the body should be
    /// stored raw. The returned slice is valid until the next call.
    func compress(_ body: UnsafeRawBufferPointer) throws -> (ArraySlice<UInt8>, BlockFormat.Encoding)? {
        guard body.count >= Self.smallestCompressedBody else { return nil }
        if let zstdStream {
            scratch.removeAll(keepingCapacity: true)
            try zstdStream.compressFlushed(body, appendingTo: &scratch)
            return (scratch[...], .zstd)
        }
        guard let lz4 else { return nil }
        if incompressibleRun > 0 && incompressibleRun % 8 != 0 && sampleLooksIncompressible(body) {
            incompressibleRun += 1
            return nil
        }
        let bound = LZ4Compressor.bound(body.count)
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let size = try scratch.withUnsafeMutableBytes { try lz4.compress(body, into: $0) }
        guard pays(size, for: body.count) else {
            incompressibleRun += 1
            return nil
        }
        incompressibleRun = 0
        return (scratch[0..<size], .lz4)
    }

    /// Compresses `body` as one zstd frame against `prefix` (as `zstd --patch-from` does), or returns `nil`
    /// when that would not pay. No probe: a body may be new to LZ4 yet an edit of the prefix.
    func compress(_ body: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer) throws -> ArraySlice<UInt8>? {
        guard body.count >= Self.smallestCompressedBody else { return nil }
        if zstdOneShot == nil { zstdOneShot = try ZstdCompressor(level: configuration.level) }
        let bound = ZstdCompressor.bound(body.count)
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let size = try scratch.withUnsafeMutableBytes { target in
            try zstdOneShot.unsafelyUnwrapped.compress(body, into: target, prefix: prefix)
        }
        return pays(size, for: body.count) ? scratch[0..<size] : nil
    }

    /// A compressed form is kept only when it saves at least 1/64 of the body.
    private func pays(_ size: Int, for count: Int) -> Bool { size < count - count / 64 }

    /// Whether LZ4 fails to shrink a sample of `body` by 1/32: already-compressed or encrypted data.
    private func sampleLooksIncompressible(_ body: UnsafeRawBufferPointer) -> Bool {
        let sample = UnsafeRawBufferPointer(rebasing: body[0..<min(body.count, Self.probeSize)])
        let bound = LZ4Compressor.bound(sample.count)
        if probeScratch.count < bound { probeScratch = [UInt8](repeating: 0, count: bound) }
        let size = probeScratch.withUnsafeMutableBytes { target in
            (try? probe.compress(sample, into: target)) ?? sample.count
        }
        return size >= sample.count - sample.count / 32
    }
}

/// Decompresses block bodies of any encoding: one continuous zstd stream, plus a one-shot context for
/// store-prefixed blocks.
final class BlockDecompressor {
    private var zstdStream: ZstdDecompressor?
    private var zstdOneShot: ZstdDecompressor?
    /// The largest window the continuous zstd stream may use (`ZSTD_d_windowLogMax`).
    private let zstdWindowLog: Int

    /// Creates a decompressor whose continuous zstd stream accepts windows up to `1 << zstdWindowLog` bytes.
    init(zstdWindowLog: Int = ZstdDecompressor.windowLogMax) {
        self.zstdWindowLog = zstdWindowLog
    }

    /// Decodes `stored` into a new array of exactly `rawLength` bytes.
    ///
    /// - Throws: ``CodecError`` when the stored bytes are malformed or do not decode to `rawLength` bytes.
    func decompress(
        _ stored: UnsafeRawBufferPointer, encoding: BlockFormat.Encoding, rawLength: Int,
        prefix: UnsafeRawBufferPointer? = nil
    ) throws -> [UInt8] {
        if encoding == .raw {
            guard stored.count == rawLength else {
                throw CodecError(.lengthMismatch, call: "store", message: "raw body of \(stored.count) bytes, expected \(rawLength)")
            }
            return [UInt8](stored)
        }
        var failure: (any Error)?
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: rawLength) { buffer, initialized in
            do {
                let target = UnsafeMutableRawBufferPointer(buffer)
                switch encoding {
                case .lz4:
                    written = try LZ4Decompressor.decompress(stored, into: target)
                case .zstd:
                    if zstdStream == nil { zstdStream = try ZstdDecompressor(windowLogMax: zstdWindowLog) }
                    try zstdStream.unsafelyUnwrapped.decompressFlushed(stored, into: target)
                    written = rawLength
                case .zstdWithStorePrefix, .raw:
                    if zstdOneShot == nil { zstdOneShot = try ZstdDecompressor() }
                    written = try zstdOneShot.unsafelyUnwrapped.decompress(stored, into: target, prefix: prefix)
                }
            } catch {
                failure = error
            }
            // Only the bytes the codec wrote are initialised; a short result is refused below.
            initialized = failure == nil ? min(written, rawLength) : 0
        }
        if let failure { throw failure }
        guard written == rawLength else {
            throw CodecError(.lengthMismatch, call: "\(encoding)", message: "body decoded to \(written) bytes, expected \(rawLength)")
        }
        return output
    }
}
