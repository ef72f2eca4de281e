import ReplicaCore

/// The one-shot calls: whole buffers in, whole buffers out.
enum OneShot {
    /// Input is encoded in pieces of this size, so encoded bytes reach `dst` (or fail) as they are made.
    static let pieceSize = 1 << 20

    /// `replica_compress_bound`: the input, 1/64 more for the operations, block headers and raw zstd blocks, and
    /// 1 KiB for the header, the trailer and a last small block.
    static func bound(_ size: UInt) -> UInt? {
        let (withSlack, overflow) = size.addingReportingOverflow(size / 64)
        guard !overflow, withSlack <= UInt(Int.max) - 1024 else { return nil }
        return withSlack + 1024
    }

    /// The configuration for `replica_compress`: zstd at `level` (0: the default), a window just large enough
    /// for the input, so the decoder needs no more memory than the content.
    static func configuration(level: CInt, contentSize: Int) throws(ConfigurationError) -> EncoderConfiguration {
        let codec = try CodecConfiguration(.zstd, level: level == 0 ? nil : Int(level))
        return try EncoderConfiguration(
            codec: codec, windowSize: min(contentSize, EncoderConfiguration.defaultWindowSize))
    }

    static func compress(_ destination: UnsafeMutableRawBufferPointer, _ source: UnsafeRawBufferPointer, level: CInt)
        throws -> Int
    {
        let encoder = try StreamEncoder(configuration: configuration(level: level, contentSize: source.count))
        var written = 0
        var encoded: [UInt8] = []
        func emit() throws(CFailure) {
            guard encoded.count <= destination.count - written else {
                throw CFailure(.dstSizeTooSmall, "the stream does not fit \(destination.count) bytes")
            }
            if let base = destination.baseAddress, !encoded.isEmpty {
                encoded.withUnsafeBytes { copyBytes($0, to: base + written) }
            }
            written += encoded.count
            encoded.removeAll(keepingCapacity: true)
        }
        var offset = 0
        repeat {
            let end = min(source.count, offset + pieceSize)
            try encoder.encode(UnsafeRawBufferPointer(rebasing: source[offset..<end]), into: &encoded)
            try emit()
            offset = end
        } while offset < source.count
        try encoder.finish(into: &encoded)
        try emit()
        return written
    }

    static func decompress(_ destination: UnsafeMutableRawBufferPointer, _ source: UnsafeRawBufferPointer) throws -> Int {
        // The destination is the output bound: a block that would not fit is refused before it is decompressed.
        let decoder = try StreamDecoder(options: DecoderOptions(maximumOutputSize: destination.count))
        var written = 0
        try decoder.decode(source, pieceSize: pieceSize) { piece throws(CFailure) in
            guard piece.count <= destination.count - written else {
                throw CFailure(.dstSizeTooSmall, "the content does not fit \(destination.count) bytes")
            }
            if let base = destination.baseAddress, !piece.isEmpty {
                piece.withUnsafeBytes { copyBytes($0, to: base + written) }
            }
            written += piece.count
        }
        try decoder.finish()
        return written
    }
}

/// `replica_compress_bound`.
@_cdecl("replica_compress_bound")
public func replicaCompressBound(_ size: UInt) -> UInt {
    OneShot.bound(size) ?? ErrorCode.parameterOutOfBound.result
}

/// `replica_min_level`.
@_cdecl("replica_min_level")
public func replicaMinLevel() -> CInt {
    CInt(clamping: ZstdCompressor.levelRange.lowerBound)
}

/// `replica_compress`.
@_cdecl("replica_compress")
public func replicaCompress(
    _ dst: UnsafeMutableRawPointer?, _ dstCapacity: UInt, _ src: UnsafeRawPointer?, _ srcSize: UInt, _ level: CInt
) -> UInt {
    catchingErrors {
        let source = try checkedBuffer(src, srcSize, name: "src")
        let destination = UnsafeMutableRawBufferPointer(mutating: try checkedBuffer(dst, dstCapacity, name: "dst"))
        return UInt(try OneShot.compress(destination, source, level: level))
    }
}

/// `replica_decompress`.
@_cdecl("replica_decompress")
public func replicaDecompress(
    _ dst: UnsafeMutableRawPointer?, _ dstCapacity: UInt, _ src: UnsafeRawPointer?, _ srcSize: UInt
) -> UInt {
    catchingErrors {
        let source = try checkedBuffer(src, srcSize, name: "src")
        let destination = UnsafeMutableRawBufferPointer(mutating: try checkedBuffer(dst, dstCapacity, name: "dst"))
        return UInt(try OneShot.decompress(destination, source))
    }
}
