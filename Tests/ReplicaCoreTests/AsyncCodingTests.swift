import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("AsyncSequence adapters")
struct AsyncCodingTests {
    static func pieces(_ bytes: [UInt8], size: Int) -> AsyncStream<[UInt8]> {
        AsyncStream { continuation in
            for start in stride(from: 0, to: bytes.count, by: size) {
                continuation.yield(Array(bytes[start..<min(start + size, bytes.count)]))
            }
            continuation.finish()
        }
    }

    @Test("bytes in, stream pieces out, and back, for every codec", arguments: [CodecKind.none, .lz4, .zstd])
    func roundTrip(codec: CodecKind) async throws {
        let input = TestCorpus.redundant(1_500_000)
        let configuration = try EncoderConfiguration(codec: CodecConfiguration(codec))
        var encoded: [UInt8] = []
        for try await piece in Self.pieces(input, size: 100_000).replicaEncoded(configuration: configuration) {
            encoded += piece
        }
        #expect(try Replica.decompress(encoded, maximumOutputSize: input.count) == input)
        var decoded: [UInt8] = []
        for try await piece in Self.pieces(encoded, size: 4096).replicaDecoded(pieceSize: 64 << 10) {
            decoded += piece
        }
        #expect(decoded == input)
    }

    @Test("decoded pieces stay bounded however far a few bytes of references expand")
    func boundedPieces() async throws {
        let block = TestCorpus.random(64 << 10, seed: 5)
        let input = [[UInt8]](repeating: block, count: 64).flatMap { $0 }  // 4 MiB, almost all references
        // 4 KiB blocks: each block's output is at most 8 x 4 KiB plus one chunk, so the bound below is tight.
        let encoded = try Replica.compress(input, configuration: EncoderConfiguration(blockSize: 4 << 10))
        #expect(encoded.count < 400_000)
        let header = try encoded.withUnsafeBytes { try StreamHeader.decode($0) }
        var sizes: [Int] = []
        var decoded: [UInt8] = []
        // The whole stream arrives as one element: the adapter must still yield it in bounded pieces.
        for try await piece in Self.pieces(encoded, size: encoded.count).replicaDecoded(pieceSize: 32 << 10) {
            sizes.append(piece.count)
            decoded += piece
        }
        #expect(decoded == input)
        #expect(sizes.count > 8)
        #expect(sizes.allSatisfy { $0 <= (32 << 10) + header.maximumBlockOutput })
    }

    @Test("a truncated stream fails at the end of the sequence; bad input fails with its code")
    func failures() async throws {
        let encoded = try Replica.compress(TestCorpus.text(300_000), configuration: EncoderConfiguration())
        let truncated = Array(encoded.dropLast(5))
        let error = await #expect(throws: FormatError.self) {
            for try await _ in Self.pieces(truncated, size: 1000).replicaDecoded() {}
        }
        #expect(error?.code == .truncated)
        let bounded = await #expect(throws: FormatError.self) {
            let options = try DecoderOptions(maximumOutputSize: 1000)
            for try await _ in Self.pieces(encoded, size: 1000).replicaDecoded(options: options) {}
        }
        #expect(bounded?.code == .outputLimitExceeded)
    }
}
