/// Whole-buffer conveniences over ``StreamEncoder`` and ``StreamDecoder``.
public enum Replica {
    /// Encodes a whole buffer into a self-contained stream.
    ///
    /// - Throws: ``CodecError`` when a compressor fails.
    public static func compress(_ bytes: [UInt8], configuration: EncoderConfiguration) throws -> [UInt8] {
        let encoder = try StreamEncoder(configuration: configuration)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 2 + 256)
        try encoder.encode(bytes, into: &output)
        try encoder.finish(into: &output)
        return output
    }

    /// Decodes a whole self-contained stream (or, when `options` accept them, concatenated streams).
    ///
    /// Refuses to produce more than `maximumOutputSize` bytes (nor more than `options.maximumOutputSize`):
    /// a block that would go past the bound is refused before it is decompressed. Memory for the output is
    /// reserved only up to the bound and to what the input could plausibly hold, never on the unverified word
    /// of the trailer alone.
    ///
    /// - Parameters:
    ///   - bytes: the encoded stream.
    ///   - maximumOutputSize: the most bytes to return.
    ///   - options: the memory limit, concatenation and the fingerprint key.
    /// - Throws: ``FormatError`` for corrupt, truncated or unsupported input, with code
    ///   ``FormatError/Code/outputLimitExceeded`` when the content is larger than the bound.
    public static func decompress(
        _ bytes: [UInt8], maximumOutputSize: Int, options: DecoderOptions = .default
    ) throws -> [UInt8] {
        let bound = max(0, min(maximumOutputSize, options.maximumOutputSize))
        let bounded = try DecoderOptions(
            memoryLimit: options.memoryLimit, maximumOutputSize: bound,
            acceptsConcatenatedStreams: options.acceptsConcatenatedStreams, fingerprinter: options.fingerprinter)
        let decoder = try StreamDecoder(options: bounded)
        var output: [UInt8] = []
        // The trailer is only a hint: a 96-byte stream may claim a terabyte. Reserve at most the bound, and at most
        // what blocks of this many stored bytes could rebuild without references (compression rarely beats 1:16).
        let plausible = bytes.count <= Int.max / 16 ? bytes.count * 16 : Int.max
        output.reserveCapacity(min(StreamTrailer.declaredContentLength(of: bytes) ?? 0, bound, plausible))
        try decoder.decode(bytes, into: &output)
        try decoder.finish()
        return output
    }

    /// The versions of the linked C libraries, for `--version` output and support requests.
    public static var libraryVersions: String {
        func dotted(_ number: Int) -> String { "\(number / 10000).\(number / 100 % 100).\(number % 100)" }
        return "zstd \(dotted(ZstdDecompressor.libraryVersion)), lz4 \(dotted(LZ4Decompressor.libraryVersion)), "
            + "xxhash \(dotted(Int(XXHash.libraryVersion)))"
    }
}
