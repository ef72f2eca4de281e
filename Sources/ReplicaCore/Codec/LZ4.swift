internal import CLZ4

/// LZ4 block compression with a state reused across blocks. The only file of ReplicaCore that calls liblz4.
///
/// Level 1 wraps `LZ4_compress_fast_extState` (acceleration 1); levels 2 to 12 wrap `LZ4_compress_HC_extStateHC`.
package final class LZ4Compressor {
    private let state: UnsafeMutableRawPointer
    /// The level this compressor uses.
    package let level: Int

    /// The largest input LZ4 accepts in one block (`LZ4_MAX_INPUT_SIZE`).
    package static let maximumInputSize = 0x7E00_0000

    /// Creates a compressor; `level` 1 is LZ4's fast mode, 2 to 12 its HC mode.
    package init(level: Int) {
        self.level = level
        let size = level > 1 ? Int(LZ4_sizeofStateHC()) : Int(LZ4_sizeofState())
        state = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    }

    deinit { state.deallocate() }

    /// The most bytes that compressing `count` bytes can produce. Wraps `LZ4_compressBound`.
    package static func bound(_ count: Int) -> Int {
        Int(LZ4_compressBound(Int32(clamping: count)))
    }

    /// Compresses `source` into `destination` and returns the compressed size.
    ///
    /// - Throws: ``CodecError`` when the input is too large or the output does not fit.
    package func compress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(CodecError) -> Int {
        guard source.count <= Self.maximumInputSize, let sourceCount = Int32(exactly: source.count) else {
            throw CodecError(.inputTooLarge, call: "LZ4_compress", message: "input of \(source.count) bytes exceeds LZ4_MAX_INPUT_SIZE")
        }
        let capacity = Int32(clamping: destination.count)
        let source = source.baseAddress?.assumingMemoryBound(to: CChar.self)
        let target = destination.baseAddress?.assumingMemoryBound(to: CChar.self)
        let written =
            level > 1
            ? LZ4_compress_HC_extStateHC(state, source, target, sourceCount, capacity, Int32(level))
            : LZ4_compress_fast_extState(state, source, target, sourceCount, capacity, 1)
        guard written > 0 || sourceCount == 0 else {
            throw CodecError(.outputTooSmall, call: "LZ4_compress", message: "output does not fit in \(capacity) bytes")
        }
        return Int(written)
    }
}

/// LZ4 block decompression. Wraps `LZ4_decompress_safe`, which returns an error for malformed input rather
/// than reading or writing out of bounds.
package enum LZ4Decompressor {
    /// Decompresses one block into `destination` and returns the number of bytes written.
    /// - Throws: ``CodecError`` when the block is malformed or does not fit.
    package static func decompress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(CodecError) -> Int {
        guard let sourceCount = Int32(exactly: source.count), let capacity = Int32(exactly: destination.count) else {
            throw CodecError(.inputTooLarge, call: "LZ4_decompress_safe", message: "block of \(source.count) bytes is too large")
        }
        let written = LZ4_decompress_safe(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            destination.baseAddress?.assumingMemoryBound(to: CChar.self), sourceCount, capacity)
        guard written >= 0 else {
            throw CodecError(
                .malformedInput, call: "LZ4_decompress_safe", message: "malformed block (error \(written))",
                cause: LibraryError(library: "liblz4", name: "LZ4_decompress_safe returned \(written)"))
        }
        return Int(written)
    }

    /// The linked liblz4's version number, as `LZ4_versionNumber` reports it (for example 10904).
    package static var libraryVersion: Int { Int(LZ4_versionNumber()) }
}
