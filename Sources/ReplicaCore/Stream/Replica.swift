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

    /// Decodes a whole self-contained stream.
    ///
    /// - Throws: ``FormatError`` for corrupt, truncated or unsupported input.
    public static func decompress(_ bytes: [UInt8], options: DecoderOptions = DecoderOptions()) throws -> [UInt8] {
        let decoder = try StreamDecoder(options: options)
        var output: [UInt8] = []
        output.reserveCapacity(min(StreamTrailer.declaredContentLength(of: bytes) ?? 0, 1 << 30))
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
