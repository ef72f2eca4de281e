/// Compresses block bodies with one codec, storing a body raw when compressing would not pay.
///
/// Owns one compression context, reused for every block of a stream. Already-compressed or encrypted input is
/// detected cheaply: after a block that did not shrink, the next blocks are first probed with LZ4 on a sample,
/// and stored raw without a full compression attempt while the sample does not shrink either.
final class BlockCompressor {
    let configuration: CodecConfiguration
    private let zstd: ZstdCompressor?
    private let lz4: LZ4Compressor?
    private let probe = LZ4Compressor(level: 1)
    private var scratch: [UInt8] = []
    private var incompressibleRun = 0

    /// Bodies smaller than this are stored raw: compressing them saves less than a block header.
    static let smallestCompressedBody = 64
    /// The size of the sample that probes for incompressible data.
    static let probeSize = 16 << 10

    init(_ configuration: CodecConfiguration) throws(CodecError) {
        self.configuration = configuration
        switch configuration.kind {
        case .none:
            zstd = nil
            lz4 = nil
        case .lz4:
            zstd = nil
            lz4 = LZ4Compressor(level: configuration.level)
        case .zstd:
            zstd = try ZstdCompressor(level: configuration.level)
            lz4 = nil
        }
    }

    /// Compresses `body` and returns the compressed bytes, or `nil` when the body should be stored raw because
    /// compressing it would not pay. The returned slice is valid until the next call.
    ///
    /// With a `prefix` (zstd only), the body is compressed against it as `zstd --patch-from` does, and the
    /// incompressible-data probe is skipped: a body may be new to LZ4 yet an edit of the prefix.
    func compress(_ body: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer? = nil) throws -> ArraySlice<UInt8>? {
        guard configuration.kind != .none, body.count >= Self.smallestCompressedBody else { return nil }
        if prefix == nil && looksIncompressible(body) { return nil }
        let bound = configuration.kind == .zstd ? ZstdCompressor.bound(body.count) : LZ4Compressor.bound(body.count)
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let size = try scratch.withUnsafeMutableBytes { target in
            if let zstd { return try zstd.compress(body, into: target, prefix: prefix) }
            return try lz4.unsafelyUnwrapped.compress(body, into: target)
        }
        // Keep the compressed form only when it saves at least 1/64 of the body.
        if size >= body.count - body.count / 64 {
            incompressibleRun += 1
            return nil
        }
        incompressibleRun = 0
        return scratch[0..<size]
    }

    /// After an incompressible block, probes a sample with LZ4 before paying for a full compression.
    /// Every eighth block of a run is compressed in full anyway, so a change of content is noticed.
    private func looksIncompressible(_ body: UnsafeRawBufferPointer) -> Bool {
        guard incompressibleRun > 0, incompressibleRun % 8 != 0 else { return false }
        let sample = UnsafeRawBufferPointer(rebasing: body[0..<min(body.count, Self.probeSize)])
        let bound = LZ4Compressor.bound(sample.count)
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let size = scratch.withUnsafeMutableBytes { target in
            (try? probe.compress(sample, into: target)) ?? sample.count
        }
        if size >= sample.count - sample.count / 32 {
            incompressibleRun += 1
            return true
        }
        return false
    }
}

/// Decompresses block bodies of any codec, reusing one zstd context.
final class BlockDecompressor {
    private var zstd: ZstdDecompressor?

    init() {}

    /// Decodes `stored` into a new array of exactly `rawLength` bytes.
    ///
    /// - Throws: ``CodecError`` when the stored bytes are malformed or do not decode to `rawLength` bytes.
    func decompress(
        _ stored: UnsafeRawBufferPointer, encoding: BlockFormat.Encoding, rawLength: Int,
        prefix: UnsafeRawBufferPointer? = nil
    ) throws -> [UInt8] {
        if encoding == .raw {
            guard stored.count == rawLength else {
                throw CodecError(call: "store", message: "raw body of \(stored.count) bytes, expected \(rawLength)")
            }
            return [UInt8](stored)
        }
        var failure: (any Error)?
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: rawLength) { buffer, initialized in
            do {
                let target = UnsafeMutableRawBufferPointer(buffer)
                if encoding == .lz4 {
                    written = try LZ4Decompressor.decompress(stored, into: target)
                } else {
                    if zstd == nil { zstd = try ZstdDecompressor() }
                    written = try zstd.unsafelyUnwrapped.decompress(stored, into: target, prefix: prefix)
                }
            } catch {
                failure = error
            }
            // Only the bytes the codec wrote are initialised; a short result is refused below.
            initialized = min(written, rawLength)
        }
        if let failure { throw failure }
        guard written == rawLength else {
            throw CodecError(call: "\(encoding)", message: "body decoded to \(written) bytes, expected \(rawLength)")
        }
        return output
    }
}
