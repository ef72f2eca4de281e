import ReplicaCore

/// What a `replica_dctx*` points to: a ``StreamDecoder`` made on the first push, and verified content that did
/// not fit the caller's output yet.
///
/// A few hundred bytes of references can stand for megabytes of content, so the context never decodes ahead of
/// the caller: it asks the decoder for one piece of about ``pieceSize`` bytes (at most one block more), and takes
/// new input only once the decoder has nothing left to decode from the input it already has.
final class DecoderContext: ContextBox {
    static let pieceSize = 128 << 10
    /// Input is given to the decoder in pieces of at most this size, which bounds what it buffers.
    static let inputPieceSize = 256 << 10

    let errorMessage = ErrorMessage()
    private let store: (any ChunkWriting)?
    private var memoryLimit = DecoderOptions.defaultMemoryLimit
    private var decoder: StreamDecoder?
    private var held = HeldBytes()
    /// The decoder may hold complete frames not yet decoded.
    private var backlog = false
    private var inputEnded = false
    /// A decode error, returned by every later call.
    private var failure = FinalFailure()

    /// Thrown by the delivery closure to stop the decoder after one piece; the rest stays pending inside it.
    private struct Pause: Error {}

    init(store: (any ChunkWriting)?) {
        self.store = store
    }

    func setMemoryLimit(_ bytes: UInt) throws -> UInt {
        guard decoder == nil else { throw CFailure(.stageWrong, "the memory limit is set before the first push") }
        memoryLimit = Int(clamping: bytes)
        return 0
    }

    private func started() throws -> StreamDecoder {
        if let decoder { return decoder }
        let decoder = try StreamDecoder(options: DecoderOptions(memoryLimit: memoryLimit), store: store)
        self.decoder = decoder
        return decoder
    }

    /// Decodes at most one piece from `input` and what the decoder holds; returns whether content came out.
    private func step(_ decoder: StreamDecoder, _ input: UnsafeRawBufferPointer) throws -> Bool {
        var produced = false
        do {
            try decoder.decode(input, pieceSize: Self.pieceSize) { piece in
                held.bytes += piece
                produced = true
                throw Pause()
            }
        } catch is Pause {
            // The decoder stopped after a piece; a decode error behind it is thrown again by the next step.
        }
        return produced
    }

    func push(_ output: CBufferView, _ input: CBufferView?) throws -> UInt {
        if let input, input.remaining > 0, inputEnded {
            throw CFailure(.stageWrong, "input pushed after replica_decompress_end")
        }
        try failure.check()
        let decoder = try started()
        return try failure.recording { try drive(decoder, output, input) }
    }

    private func drive(_ decoder: StreamDecoder, _ output: CBufferView, _ input: CBufferView?) throws -> UInt {
        while true {
            held.drain(into: output)
            guard held.count == 0 else { break }
            if backlog {
                backlog = try step(decoder, UnsafeRawBufferPointer(start: nil, count: 0))
            } else if let input, input.remaining > 0 {
                let piece = input.bytes(min(input.remaining, Self.inputPieceSize))
                input.position += piece.count
                backlog = true
                _ = try step(decoder, piece)
            } else {
                break
            }
        }
        if held.count > 0 { return UInt(held.count) }
        return decoder.isComplete ? 0 : 1
    }

    func end(_ output: CBufferView) throws -> UInt {
        inputEnded = true
        let hint = try push(output, nil)
        // The loop stops with content held, or with no backlog and no input: then the input is all decoded.
        guard held.count == 0 else { return hint }
        try failure.recording { try decoder?.finish() }
        return 0
    }
}

/// `replica_create_dctx`.
@_cdecl("replica_create_dctx")
public func replicaCreateDCtx() -> OpaquePointer? {
    DecoderContext(store: nil).retainedPointer()
}

/// `replica_create_dctx_with_store`.
@_cdecl("replica_create_dctx_with_store")
public func replicaCreateDCtxWithStore(_ store: OpaquePointer?) -> OpaquePointer? {
    DecoderContext(store: StoreHandle.from(store)?.store).retainedPointer()
}

/// `replica_free_dctx`.
@_cdecl("replica_free_dctx")
public func replicaFreeDCtx(_ context: OpaquePointer?) -> UInt {
    DecoderContext.release(context)
    return 0
}

/// `replica_dctx_set_memory_limit`.
@_cdecl("replica_dctx_set_memory_limit")
public func replicaDCtxSetMemoryLimit(_ context: OpaquePointer?, _ bytes: UInt) -> UInt {
    DecoderContext.calling(context) { try $0.setMemoryLimit(bytes) }
}

/// `replica_decompress_stream`.
@_cdecl("replica_decompress_stream")
public func replicaDecompressStream(
    _ context: OpaquePointer?, _ output: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?
) -> UInt {
    DecoderContext.calling(context) { decoder in
        try decoder.push(CBufferView(output, name: "output"), CBufferView(input, name: "input"))
    }
}

/// `replica_decompress_flush`.
@_cdecl("replica_decompress_flush")
public func replicaDecompressFlush(_ context: OpaquePointer?, _ output: UnsafeMutableRawPointer?) -> UInt {
    DecoderContext.calling(context) { decoder in try decoder.push(CBufferView(output, name: "output"), nil) }
}

/// `replica_decompress_end`.
@_cdecl("replica_decompress_end")
public func replicaDecompressEnd(_ context: OpaquePointer?, _ output: UnsafeMutableRawPointer?) -> UInt {
    DecoderContext.calling(context) { decoder in try decoder.end(CBufferView(output, name: "output")) }
}

/// `replica_dctx_get_error_message`.
@_cdecl("replica_dctx_get_error_message")
public func replicaDCtxGetErrorMessage(_ context: OpaquePointer?) -> UnsafePointer<CChar> {
    DecoderContext.message(context)
}
