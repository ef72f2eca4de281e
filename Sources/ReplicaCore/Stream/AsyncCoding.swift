/// An asynchronous sequence of Replica stream pieces: the encoding of an asynchronous sequence of byte pieces.
///
/// Pull-driven and bounded: each step reads one piece from the base sequence and yields what the encoder emits
/// for it (whole blocks, at most about the piece's size, since the encoder holds at most one block), and the
/// stream's last block and trailer when the base sequence ends. Nothing is read ahead.
///
/// Create one with `replicaEncoded(configuration:store:)` on any `AsyncSequence` of `[UInt8]`.
public struct ReplicaEncodingSequence<Base: AsyncSequence>: AsyncSequence where Base.Element == [UInt8] {
    /// Pieces of the encoded stream.
    public typealias Element = [UInt8]

    private let base: Base
    private let configuration: EncoderConfiguration
    private let store: (any ChunkWriting)?

    init(base: Base, configuration: EncoderConfiguration, store: (any ChunkWriting)?) {
        self.base = base
        self.configuration = configuration
        self.store = store
    }

    /// Makes an iterator with a new ``StreamEncoder``; an encoder that cannot be created fails the first `next()`.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), encoder: Result { try StreamEncoder(configuration: configuration, store: store) })
    }

    /// Reads the base sequence one piece at a time and yields the encoded output.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private var base: Base.AsyncIterator
        private let encoder: Result<StreamEncoder, any Error>
        private var finished = false

        init(base: Base.AsyncIterator, encoder: Result<StreamEncoder, any Error>) {
            self.base = base
            self.encoder = encoder
        }

        /// The next piece of the encoded stream, or `nil` after the trailer.
        ///
        /// - Throws: what the base sequence throws, ``CodecError`` or ``ChunkStoreError``. After an error the
        ///   sequence ends.
        public mutating func next() async throws -> [UInt8]? {
            let encoder = try encoder.get()
            while !finished {
                var output: [UInt8] = []
                do {
                    if let piece = try await base.next() {
                        try encoder.encode(piece, into: &output)
                    } else {
                        finished = true
                        try encoder.finish(into: &output)
                    }
                } catch {
                    finished = true
                    throw error
                }
                if !output.isEmpty { return output }
            }
            return nil
        }
    }
}

/// An asynchronous sequence of verified content: the decoding of an asynchronous sequence of Replica stream pieces.
///
/// Pull-driven and bounded: each element is at most `pieceSize` bytes plus one block's output, however much a
/// few bytes of references expand to. Frames left over once a piece is full are decoded by the next `next()`
/// before more input is read. At the end of the base sequence the stream must be complete.
///
/// Create one with `replicaDecoded(options:store:pieceSize:)` on any `AsyncSequence` of `[UInt8]`.
public struct ReplicaDecodingSequence<Base: AsyncSequence>: AsyncSequence where Base.Element == [UInt8] {
    /// Pieces of decoded content, each verified before it is yielded.
    public typealias Element = [UInt8]

    private let base: Base
    private let options: DecoderOptions
    private let store: (any ChunkWriting)?
    private let pieceSize: Int

    init(base: Base, options: DecoderOptions, store: (any ChunkWriting)?, pieceSize: Int) {
        self.base = base
        self.options = options
        self.store = store
        self.pieceSize = Swift.max(1, pieceSize)
    }

    /// Makes an iterator with a new ``StreamDecoder``; a decoder that cannot be created fails the first `next()`.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(
            base: base.makeAsyncIterator(), decoder: Result { try StreamDecoder(options: options, store: store) },
            pieceSize: pieceSize)
    }

    /// Decodes the base sequence and yields verified content in bounded pieces.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private var base: Base.AsyncIterator
        private let decoder: Result<StreamDecoder, any Error>
        private let pieceSize: Int
        private var finished = false

        init(base: Base.AsyncIterator, decoder: Result<StreamDecoder, any Error>, pieceSize: Int) {
            self.base = base
            self.decoder = decoder
            self.pieceSize = pieceSize
        }

        /// The next piece of content, or `nil` once the stream (and its trailer) is complete.
        ///
        /// - Throws: what the base sequence throws, ``FormatError`` (including `truncated` when the base sequence
        ///   ends early) or ``ChunkStoreError``. After an error the sequence ends.
        public mutating func next() async throws -> [UInt8]? {
            let decoder = try decoder.get()
            while !finished {
                var output: [UInt8] = []
                do {
                    // Frames left pending by the last full piece come first, before more input is read.
                    try decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0), into: &output, budget: pieceSize)
                    if !output.isEmpty { return output }
                    if let piece = try await base.next() {
                        try piece.withUnsafeBytes { try decoder.decode($0, into: &output, budget: pieceSize) }
                    } else {
                        finished = true
                        try decoder.finish()
                    }
                } catch {
                    finished = true
                    throw error
                }
                if !output.isEmpty { return output }
            }
            return nil
        }
    }
}

extension AsyncSequence where Element == [UInt8] {
    /// Encodes this sequence of byte pieces into a Replica stream, yielded piece by piece.
    ///
    /// - Parameters:
    ///   - configuration: how to chunk, compress and reference.
    ///   - store: the store whose chunks become fingerprint references, or `nil` for a self-contained stream.
    public func replicaEncoded(
        configuration: EncoderConfiguration, store: (any ChunkWriting)? = nil
    ) -> ReplicaEncodingSequence<Self> {
        ReplicaEncodingSequence(base: self, configuration: configuration, store: store)
    }

    /// Decodes this sequence of Replica stream pieces, yielding verified content in pieces of at most
    /// `pieceSize` bytes plus one block's output.
    ///
    /// - Parameters:
    ///   - options: the memory limit, the output bound, concatenation and the fingerprint key.
    ///   - store: the store that fingerprint references resolve against, or `nil` for self-contained streams.
    ///   - pieceSize: the content bytes at which a piece is yielded.
    public func replicaDecoded(
        options: DecoderOptions = .default, store: (any ChunkWriting)? = nil, pieceSize: Int = 1 << 20
    ) -> ReplicaDecodingSequence<Self> {
        ReplicaDecodingSequence(base: self, options: options, store: store, pieceSize: pieceSize)
    }
}
