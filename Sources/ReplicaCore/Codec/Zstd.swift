internal import CZstd

/// The ``CodecError`` for a libzstd error result of `call`, with the library's error name as its cause.
private func zstdError(_ call: String, _ result: Int) -> CodecError {
    let name = String(cString: ZSTD_getErrorName(result))
    return CodecError(.libraryError, call: call, message: name, cause: LibraryError(library: "libzstd", name: name))
}

/// Checks a `size_t` result of libzstd and turns an error code into a ``CodecError`` naming the call.
@inline(__always)
private func zstdChecked(_ result: Int, _ call: String) throws(CodecError) -> Int {
    if ZSTD_isError(result) != 0 {
        throw zstdError(call, result)
    }
    return result
}

/// A zstd compression context reused for a whole stream (zstd.h: "allocate once, reuse").
///
/// Owns one `ZSTD_CCtx`, freed on deinit. Not for sharing between tasks.
package final class ZstdCompressor {
    private let context: OpaquePointer
    /// The level this context compresses at.
    package let level: Int

    /// The levels the linked libzstd accepts: `ZSTD_minCLevel()` to 19 (levels 20 to 22 need `--ultra` memory).
    package static var levelRange: ClosedRange<Int> { Int(ZSTD_minCLevel())...19 }

    /// Creates a context at `level`, optionally with long-distance matching at `windowLog` and with `workers`
    /// threads (`ZSTD_c_nbWorkers`, as `zstd -T`; 0 compresses on the calling thread).
    ///
    /// Wraps `ZSTD_createCCtx` and `ZSTD_CCtx_setParameter`.
    /// - Throws: ``CodecError`` when libzstd refuses a parameter (workers need a multithreaded libzstd) or cannot
    ///   allocate.
    package init(level: Int, longDistanceWindowLog: Int? = nil, workers: Int = 0) throws(CodecError) {
        guard let context = ZSTD_createCCtx() else {
            throw CodecError(.outOfMemory, call: "ZSTD_createCCtx", message: "out of memory")
        }
        self.context = context
        self.level = level
        _ = try zstdChecked(
            ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(clamping: level)),
            "ZSTD_CCtx_setParameter(compressionLevel)")
        if let windowLog = longDistanceWindowLog {
            _ = try zstdChecked(
                ZSTD_CCtx_setParameter(context, ZSTD_c_enableLongDistanceMatching, 1),
                "ZSTD_CCtx_setParameter(enableLongDistanceMatching)")
            _ = try zstdChecked(
                ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, Int32(clamping: windowLog)),
                "ZSTD_CCtx_setParameter(windowLog)")
        }
        if workers > 0 {
            _ = try zstdChecked(
                ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, Int32(clamping: workers)),
                "ZSTD_CCtx_setParameter(nbWorkers)")
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The most bytes that compressing `count` bytes can produce. Wraps `ZSTD_compressBound`.
    package static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `source` as the next part of one continuous frame, flushed so the decoder can decode all of
    /// it at once, and appends the output to `destination`.
    ///
    /// Wraps `ZSTD_compressStream2` with `ZSTD_e_flush`. Successive calls share the compression history, so a
    /// small block compresses against everything sent before it. Do not mix with ``compress(_:into:prefix:)``
    /// on the same context: that resets the stream.
    package func compressFlushed(_ source: UnsafeRawBufferPointer, appendingTo destination: inout [UInt8]) throws(CodecError) {
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        let chunk = max(4096, ZSTD_CStreamOutSize())
        while true {
            let start = destination.count
            destination.append(contentsOf: repeatElement(0, count: chunk))
            var remaining = 0
            var produced = 0
            var failure: CodecError?
            destination.withUnsafeMutableBytes { buffer in
                var output = ZSTD_outBuffer(dst: buffer.baseAddress.map { $0 + start }, size: chunk, pos: 0)
                let result = ZSTD_compressStream2(context, &output, &input, ZSTD_e_flush)
                if ZSTD_isError(result) != 0 {
                    failure = zstdError("ZSTD_compressStream2", result)
                }
                remaining = result
                produced = output.pos
            }
            destination.removeLast(chunk - produced)
            if let failure { throw failure }
            if remaining == 0 && input.pos == input.size { return }
        }
    }

    /// Compresses `source` into `destination` as one frame and returns the frame's size.
    ///
    /// Wraps `ZSTD_compress2`. With `prefix`, the frame references it as `ZSTD_CCtx_refPrefix` does
    /// (the library form of `zstd --patch-from`); the decoder must be given the same prefix.
    /// - Precondition: `destination.count >= bound(source.count)`.
    package func compress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
        prefix: UnsafeRawBufferPointer? = nil
    ) throws(CodecError) -> Int {
        if let prefix, !prefix.isEmpty {
            _ = try zstdChecked(
                ZSTD_CCtx_refPrefix(context, prefix.baseAddress, prefix.count), "ZSTD_CCtx_refPrefix")
        }
        return try zstdChecked(
            ZSTD_compress2(
                context, destination.baseAddress, destination.count, source.baseAddress, source.count),
            "ZSTD_compress2")
    }
}

/// A zstd decompression context reused for a whole stream. Owns one `ZSTD_DCtx`.
///
/// Its window is capped (`ZSTD_d_windowLogMax`) so that a hostile frame cannot make it allocate more than the
/// block it decodes into; the frame's declared content size is never trusted: the caller's capacity rules.
package final class ZstdDecompressor {
    private let context: OpaquePointer

    /// The largest window a decoder accepts: 16 MiB, enough for every level up to 19.
    package static let windowLogMax = 24

    /// Creates a context whose window is at most `1 << windowLogMax` bytes.
    /// - Throws: ``CodecError`` when libzstd cannot allocate.
    package init(windowLogMax: Int = ZstdDecompressor.windowLogMax) throws(CodecError) {
        guard let context = ZSTD_createDCtx() else {
            throw CodecError(.outOfMemory, call: "ZSTD_createDCtx", message: "out of memory")
        }
        self.context = context
        _ = try zstdChecked(
            ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Int32(windowLogMax)),
            "ZSTD_DCtx_setParameter(windowLogMax)")
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses the next flushed part of a continuous frame into exactly `destination.count` bytes.
    ///
    /// Wraps `ZSTD_decompressStream`. The context keeps the frame's history across calls.
    /// - Throws: ``CodecError`` on corrupt input, or when the input does not yield exactly the expected bytes.
    package func decompressFlushed(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(CodecError) {
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        var output = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
        while input.pos < input.size || output.pos < output.size {
            let before = (input.pos, output.pos)
            let result = ZSTD_decompressStream(context, &output, &input)
            if ZSTD_isError(result) != 0 {
                throw zstdError("ZSTD_decompressStream", result)
            }
            if (input.pos, output.pos) == before { break }
        }
        guard input.pos == input.size, output.pos == output.size else {
            throw CodecError(
                .lengthMismatch, call: "ZSTD_decompressStream",
                message: "block decoded to \(output.pos) of \(output.size) bytes using \(input.pos) of \(input.size)")
        }
        // The output is full and the input used up, but zstd may still hold decoded bytes of this block: a
        // block must decode to exactly its length, so one more byte of output is an error.
        var extra: UInt8 = 0
        let produced = withUnsafeMutableBytes(of: &extra) { probe in
            var empty = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
            var spill = ZSTD_outBuffer(dst: probe.baseAddress, size: 1, pos: 0)
            let result = ZSTD_decompressStream(context, &spill, &empty)
            return ZSTD_isError(result) != 0 ? 1 : spill.pos
        }
        guard produced == 0 else {
            throw CodecError(
                .lengthMismatch, call: "ZSTD_decompressStream", message: "block decodes to more than its \(output.size) bytes")
        }
    }

    /// Decompresses one frame into `destination` and returns the number of bytes written.
    ///
    /// Wraps `ZSTD_decompressDCtx` (or, with `prefix`, `ZSTD_DCtx_refPrefix` and `ZSTD_decompressDCtx`).
    /// - Throws: ``CodecError`` on a corrupt frame or when the output would not fit.
    package func decompress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
        prefix: UnsafeRawBufferPointer? = nil
    ) throws(CodecError) -> Int {
        if let prefix, !prefix.isEmpty {
            _ = try zstdChecked(
                ZSTD_DCtx_refPrefix(context, prefix.baseAddress, prefix.count), "ZSTD_DCtx_refPrefix")
        }
        return try zstdChecked(
            ZSTD_decompressDCtx(
                context, destination.baseAddress, destination.count, source.baseAddress, source.count),
            "ZSTD_decompressDCtx")
    }

    /// The linked libzstd's version number, as `ZSTD_versionNumber` reports it (for example 10504).
    package static var libraryVersion: Int { Int(ZSTD_versionNumber()) }
}
