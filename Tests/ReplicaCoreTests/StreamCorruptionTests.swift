import ReplicaCore
import ReplicaTestSupport
import Testing

/// Decodes `encoded` in one piece and returns the error, or nil when it decoded.
func decodeError(_ encoded: [UInt8], options: DecoderOptions = DecoderOptions()) -> (any Error)? {
    do {
        let decoder = try StreamDecoder(options: options)
        var output: [UInt8] = []
        try decoder.decode(encoded, into: &output)
        try decoder.finish()
        return nil
    } catch {
        return error
    }
}

@Suite("Corrupt and truncated streams")
struct StreamCorruptionTests {
    static func sample(_ codec: CodecKind) throws -> (input: [UInt8], encoded: [UInt8]) {
        let input = TestCorpus.redundant(40_000, uniqueFraction: 0.4, seed: 9) + TestCorpus.text(20_000)
        let configuration = try EncoderConfiguration(
            chunker: ChunkerConfiguration(averageSize: 1024), codec: CodecConfiguration(codec), windowSize: 1 << 20,
            blockSize: 16 << 10)
        return (input, try Replica.compress(input, configuration: configuration))
    }

    @Test("flipping any byte is detected", arguments: CodecKind.allCases)
    func everyByteFlip(codec: CodecKind) throws {
        let (_, encoded) = try Self.sample(codec)
        for index in encoded.indices {
            var damaged = encoded
            damaged[index] ^= 0x5A
            let error = decodeError(damaged)
            #expect(error is FormatError, "flip at \(index) of \(encoded.count) went undetected: \(String(describing: error))")
        }
    }

    @Test("flipping random bits is detected")
    func randomBitFlips() throws {
        let (_, encoded) = try Self.sample(.zstd)
        var generator = SplitMix64(seed: 77)
        for _ in 0..<2000 {
            var damaged = encoded
            let flips = 1 + Int(generator.next() % 3)
            for _ in 0..<flips {
                damaged[Int(generator.next() % UInt64(encoded.count))] ^= UInt8(1 << (generator.next() % 8))
            }
            guard damaged != encoded else { continue }
            #expect(decodeError(damaged) is FormatError)
        }
    }

    @Test("truncating at every length is detected and names the end", arguments: [CodecKind.lz4, .zstd])
    func everyTruncation(codec: CodecKind) throws {
        let (_, encoded) = try Self.sample(codec)
        for length in 0..<encoded.count {
            let error = decodeError(Array(encoded.prefix(length)))
            let format = try #require(error as? FormatError, "truncation at \(length)")
            #expect(format.code == .truncated)
            #expect(format.offset == UInt64(length))
        }
        #expect(decodeError(encoded) == nil)
    }

    @Test("trailing bytes after the trailer are refused")
    func trailingData() throws {
        let (_, encoded) = try Self.sample(.lz4)
        let error = try #require(decodeError(encoded + [0]) as? FormatError)
        #expect(error.code == .trailingData)
        #expect(error.offset == UInt64(encoded.count))
    }

    @Test("a foreign file is refused at once")
    func notAStream() throws {
        let error = try #require(decodeError(Array("PK\u{3}\u{4} not ours".utf8)) as? FormatError)
        #expect(error.code == .notReplicaStream)
        #expect(error.description.contains("magic"))
    }

    @Test("a newer version is refused as such")
    func newerVersion() throws {
        var (_, encoded) = try Self.sample(.lz4)
        encoded[4] = StreamHeader.currentVersion + 1
        let error = try #require(decodeError(encoded) as? FormatError)
        #expect(error.code == .unsupportedVersion)
    }

    @Test("a memory limit below the window is refused before decoding")
    func memoryLimit() throws {
        let input = TestCorpus.text(10_000)
        let encoded = try Replica.compress(input, configuration: try EncoderConfiguration(windowSize: 256 << 20))
        let error = try #require(decodeError(encoded, options: DecoderOptions(memoryLimit: 64 << 20)) as? FormatError)
        #expect(error.code == .limitExceeded)
        #expect(error.description.contains("268435456-byte window"))
        #expect(decodeError(encoded, options: try DecoderOptions(memoryLimit: 512 << 20)) == nil)
    }

    @Test("random garbage after a valid header never crashes or hangs")
    func garbageBodies() throws {
        let (_, encoded) = try Self.sample(.zstd)
        let header = Array(encoded.prefix(StreamHeader.size))
        var generator = SplitMix64(seed: 5)
        for round in 0..<500 {
            var garbage = generator.bytes(Int(generator.next() % 4096))
            if round % 2 == 0, !garbage.isEmpty { garbage[0] = 0x42 }
            #expect(decodeError(header + garbage) is FormatError)
        }
    }
}
