import ReplicaCore

/// What a `replica_cctx*` points to: a ``StreamEncoder`` made on the first push, and the encoded bytes that did
/// not fit the caller's output yet.
///
/// Input is taken only while nothing is held, in pieces of ``pieceSize``, so the context holds at most about
/// one piece's worth of blocks however much input one call offers.
final class EncoderContext: ContextBox {
    static let pieceSize = 128 << 10

    private enum Stage { case configuring, encoding, ended }

    let errorMessage = ErrorMessage()
    private let store: (any ChunkWriting)?
    private var codec: CodecKind = .zstd
    private var level: Int?
    private var windowSize = EncoderConfiguration.defaultWindowSize
    private var averageChunkSize: Int?
    private var stage = Stage.configuring
    private var encoder: StreamEncoder?
    private var held = HeldBytes()
    /// Input was pushed since the last flush.
    private var needsFlush = false
    /// An encoder error, returned by every later call.
    private var failure = FinalFailure()

    init(store: (any ChunkWriting)?) {
        self.store = store
    }

    func setParameter(_ parameter: CInt, _ value: CInt) throws -> UInt {
        guard stage == .configuring else {
            throw CFailure(.stageWrong, "parameters are set before the first push")
        }
        func range(_ bounds: ClosedRange<CInt>, _ name: String) throws(CFailure) -> Int {
            guard bounds.contains(value) else {
                throw CFailure(.parameterOutOfBound, "\(name) \(value) is outside \(bounds.lowerBound)...\(bounds.upperBound)")
            }
            return Int(value)
        }
        switch parameter {
        case 100:
            guard let kind = CodecKind(rawValue: UInt8(try range(0...2, "codec"))) else { return 0 }
            codec = kind
        case 101:
            level = value == 0 ? nil : Int(value)
        case 102:
            let log = try range(0...40, "window log")
            guard log == 0 || log >= 10 else { throw CFailure(.parameterOutOfBound, "window log \(log) is 1...9") }
            windowSize = log == 0 ? 0 : 1 << log
        case 103:
            averageChunkSize = 1 << (try range(8...22, "chunk size log"))
        default:
            throw CFailure(.parameterUnsupported, "unknown encoder parameter \(parameter)")
        }
        return 0
    }

    /// The encoder, made from the parameters on first use.
    private func started() throws -> StreamEncoder {
        try failure.check()
        if let encoder { return encoder }
        let chunker = try averageChunkSize.map { size throws(ConfigurationError) in
            try ChunkerConfiguration(averageSize: size)
        } ?? .default
        let configuration = try EncoderConfiguration(
            chunker: chunker, codec: CodecConfiguration(codec, level: level), windowSize: windowSize)
        let encoder = try StreamEncoder(configuration: configuration, store: store)
        self.encoder = encoder
        stage = .encoding
        return encoder
    }

    /// Runs an encoder call, making its error final.
    private func encoding(_ body: (StreamEncoder) throws -> Void) throws {
        let encoder = try started()
        try failure.recording { try body(encoder) }
    }

    func push(_ output: CBufferView, _ input: CBufferView) throws -> UInt {
        try failure.check()
        guard stage != .ended || input.remaining == 0 else {
            throw CFailure(.stageWrong, "input pushed after replica_end_stream")
        }
        if stage != .ended { _ = try started() }
        while true {
            held.drain(into: output)
            guard held.count == 0, input.remaining > 0, stage != .ended else { break }
            let piece = input.bytes(min(input.remaining, Self.pieceSize))
            try encoding { encoder in try encoder.encode(piece, into: &held.bytes) }
            input.position += piece.count
            needsFlush = true
        }
        return UInt(held.count)
    }

    func flush(_ output: CBufferView) throws -> UInt {
        try failure.check()
        if stage != .ended && needsFlush {
            try encoding { encoder in try encoder.flush(into: &held.bytes) }
            needsFlush = false
        }
        held.drain(into: output)
        return UInt(held.count)
    }

    func end(_ output: CBufferView) throws -> UInt {
        try failure.check()
        if stage != .ended {
            try encoding { encoder in try encoder.finish(into: &held.bytes) }
            stage = .ended
        }
        held.drain(into: output)
        return UInt(held.count)
    }
}

/// `replica_create_cctx`.
@_cdecl("replica_create_cctx")
public func replicaCreateCCtx() -> OpaquePointer? {
    EncoderContext(store: nil).retainedPointer()
}

/// `replica_create_cctx_with_store`.
@_cdecl("replica_create_cctx_with_store")
public func replicaCreateCCtxWithStore(_ store: OpaquePointer?) -> OpaquePointer? {
    EncoderContext(store: StoreHandle.from(store)?.store).retainedPointer()
}

/// `replica_free_cctx`.
@_cdecl("replica_free_cctx")
public func replicaFreeCCtx(_ context: OpaquePointer?) -> UInt {
    EncoderContext.release(context)
    return 0
}

/// `replica_cctx_set_parameter`.
@_cdecl("replica_cctx_set_parameter")
public func replicaCCtxSetParameter(_ context: OpaquePointer?, _ parameter: CInt, _ value: CInt) -> UInt {
    EncoderContext.calling(context) { try $0.setParameter(parameter, value) }
}

/// `replica_compress_stream`.
@_cdecl("replica_compress_stream")
public func replicaCompressStream(
    _ context: OpaquePointer?, _ output: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?
) -> UInt {
    EncoderContext.calling(context) { encoder in
        try encoder.push(CBufferView(output, name: "output"), CBufferView(input, name: "input"))
    }
}

/// `replica_flush_stream`.
@_cdecl("replica_flush_stream")
public func replicaFlushStream(_ context: OpaquePointer?, _ output: UnsafeMutableRawPointer?) -> UInt {
    EncoderContext.calling(context) { encoder in try encoder.flush(CBufferView(output, name: "output")) }
}

/// `replica_end_stream`.
@_cdecl("replica_end_stream")
public func replicaEndStream(_ context: OpaquePointer?, _ output: UnsafeMutableRawPointer?) -> UInt {
    EncoderContext.calling(context) { encoder in try encoder.end(CBufferView(output, name: "output")) }
}

/// `replica_cctx_get_error_message`.
@_cdecl("replica_cctx_get_error_message")
public func replicaCCtxGetErrorMessage(_ context: OpaquePointer?) -> UnsafePointer<CChar> {
    EncoderContext.message(context)
}
