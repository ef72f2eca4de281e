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

    /// Appends the stored form of `body` to `output` and returns the codec it is stored with.
    func compress(_ body: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws -> CodecKind {
        guard configuration.kind != .none, body.count >= Self.smallestCompressedBody, !looksIncompressible(body)
        else {
            output.append(contentsOf: body)
            return .none
        }
        let bound = configuration.kind == .zstd ? ZstdCompressor.bound(body.count) : LZ4Compressor.bound(body.count)
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let size = try scratch.withUnsafeMutableBytes { target in
            if let zstd { return try zstd.compress(body, into: target) }
            return try lz4.unsafelyUnwrapped.compress(body, into: target)
        }
        // Keep the compressed form only when it saves at least 1/64 of the body.
        if size >= body.count - body.count / 64 {
            incompressibleRun += 1
            output.append(contentsOf: body)
            return .none
        }
        incompressibleRun = 0
        output.append(contentsOf: scratch[0..<size])
        return configuration.kind
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

    /// Decodes `stored` into exactly `rawLength` bytes appended to `output`.
    ///
    /// - Throws: ``CodecError`` when the stored bytes are malformed or do not decode to `rawLength` bytes.
    func decompress(
        _ stored: UnsafeRawBufferPointer, codec: CodecKind, rawLength: Int, into output: inout [UInt8]
    ) throws {
        output.removeAll(keepingCapacity: true)
        switch codec {
        case .none:
            guard stored.count == rawLength else {
                throw CodecError(call: "store", message: "raw body of \(stored.count) bytes, expected \(rawLength)")
            }
            output.append(contentsOf: stored)
            return
        case .lz4, .zstd:
            break
        }
        output = [UInt8](repeating: 0, count: rawLength)
        let written = try output.withUnsafeMutableBytes { target in
            if codec == .lz4 { return try LZ4Decompressor.decompress(stored, into: target) }
            if zstd == nil { zstd = try ZstdDecompressor() }
            return try zstd.unsafelyUnwrapped.decompress(stored, into: target)
        }
        guard written == rawLength else {
            throw CodecError(call: "\(codec)", message: "body decoded to \(written) bytes, expected \(rawLength)")
        }
    }
}
