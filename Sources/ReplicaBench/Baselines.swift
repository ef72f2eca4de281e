internal import CLZ4
internal import CXXHash
import ReplicaCore

/// Plain library calls that `replica-bench` sets beside the engine, on the same bytes in the same run.
///
/// The engine never calls these: they are the yardsticks, so they live here and not in ReplicaCore (the bench
/// imports the C modules itself). ``LZ4Compressor`` already stands for LZ4's fast and
/// HC modes through a reused state; this type adds the one-call forms a user would write by hand.
enum Baselines {
    /// Compresses `source` into `destination` with one call to `LZ4_compress_default` and returns the size.
    ///
    /// - Throws: ``CodecError`` when the input exceeds `LZ4_MAX_INPUT_SIZE` or the output does not fit.
    static func lz4CompressDefault(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(CodecError) -> Int {
        guard source.count <= LZ4Compressor.maximumInputSize, let sourceCount = Int32(exactly: source.count) else {
            throw CodecError(
                .inputTooLarge, call: "LZ4_compress_default", message: "input of \(source.count) bytes exceeds LZ4_MAX_INPUT_SIZE")
        }
        let capacity = Int32(clamping: destination.count)
        let written = LZ4_compress_default(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            destination.baseAddress?.assumingMemoryBound(to: CChar.self), sourceCount, capacity)
        guard written > 0 || sourceCount == 0 else {
            throw CodecError(.outputTooSmall, call: "LZ4_compress_default", message: "output does not fit in \(capacity) bytes")
        }
        return Int(written)
    }

    /// The XXH3-64 hash of a whole buffer in one call: the hashing speed the fingerprint stage can hope for.
    ///
    /// Wraps `XXH3_64bits`.
    static func xxh3Hash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits(bytes.baseAddress, bytes.count)
    }

    /// The XXH3-128 hash of a whole buffer in one call, folded to 64 bits (high XOR low).
    ///
    /// Wraps `XXH3_128bits`.
    static func xxh3Hash128Folded(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let value = XXH3_128bits(bytes.baseAddress, bytes.count)
        return value.high64 ^ value.low64
    }
}
