import ReplicaCore
import ReplicaTestSupport
import Testing

/// Encodes in random pieces and decodes in other random pieces.
func roundTrip(
    _ input: [UInt8], _ configuration: EncoderConfiguration, splitSeed: UInt64 = 1, largestPiece: Int = 100_000,
    options: DecoderOptions = DecoderOptions()
) throws -> (decoded: [UInt8], encoded: [UInt8], statistics: StreamStatistics) {
    let encoder = try StreamEncoder(configuration: configuration)
    var encoded: [UInt8] = []
    for piece in TestCorpus.randomSplits(input, largest: largestPiece, seed: splitSeed) {
        try encoder.encode(Array(piece), into: &encoded)
    }
    try encoder.finish(into: &encoded)
    let decoder = try StreamDecoder(options: options)
    var decoded: [UInt8] = []
    for piece in TestCorpus.randomSplits(encoded, largest: largestPiece, seed: splitSeed &+ 1) {
        try decoder.decode(Array(piece), into: &decoded)
    }
    try decoder.finish()
    #expect(decoder.statistics.contentBytes == encoder.statistics.contentBytes)
    #expect(decoder.statistics.encodedBytes == encoder.statistics.encodedBytes)
    #expect(encoder.statistics.encodedBytes == UInt64(encoded.count))
    return (decoded, encoded, encoder.statistics)
}

@Suite("Stream round trips")
struct StreamRoundTripTests {
    static let blockSize = 64 << 10

    static func configuration(_ codec: CodecKind, level: Int? = nil, average: Int = 4096, window: Int = 64 << 20)
        throws -> EncoderConfiguration
    {
        try EncoderConfiguration(
            chunker: ChunkerConfiguration(averageSize: average), codec: CodecConfiguration(codec, level: level),
            windowSize: window, blockSize: blockSize)
    }

    @Test(
        "edge sizes round-trip with every codec",
        arguments: [0, 1, 2, 15, 16, 17, blockSize - 1, blockSize, blockSize + 1, 3 * blockSize + 17],
        CodecKind.allCases)
    func edgeSizes(size: Int, codec: CodecKind) throws {
        let input = TestCorpus.text(size)
        let result = try roundTrip(input, Self.configuration(codec))
        #expect(result.decoded == input)
    }

    @Test("random data, random settings, random splits")
    func randomSettings() throws {
        var generator = SplitMix64(seed: 2024)
        for round in 0..<25 {
            let codec = CodecKind.allCases[Int(generator.next() % 3)]
            let level: Int? =
                switch codec {
                case .zstd: Int(generator.next() % 12) - 3
                case .lz4: 1 + Int(generator.next() % 12)
                case .none: nil
                }
            let average = 256 << Int(generator.next() % 7)
            let window = [0, 4096, 1 << 20, 64 << 20][Int(generator.next() % 4)]
            let configuration = try EncoderConfiguration(
                chunker: ChunkerConfiguration(
                    averageSize: average, variant: generator.next() % 2 == 0 ? .v2016 : .v2020,
                    seed: generator.next() % 2 == 0 ? 0 : generator.next()),
                codec: CodecConfiguration(codec, level: level), windowSize: window,
                blockSize: 4096 << Int(generator.next() % 6))
            let size = Int(generator.next() % 400_000)
            let input: [UInt8] =
                switch round % 3 {
                case 0: TestCorpus.random(size, seed: generator.next())
                case 1: TestCorpus.text(size, seed: generator.next())
                default: TestCorpus.redundant(size, uniqueFraction: 0.2, seed: generator.next())
                }
            let result = try roundTrip(
                input, configuration, splitSeed: generator.next(), largestPiece: 1 + Int(generator.next() % 70_000))
            #expect(result.decoded == input, "round \(round): \(codec) avg \(average) window \(window)")
        }
    }

    @Test("byte-at-a-time feeding decodes the same stream")
    func byteAtATime() throws {
        let input = TestCorpus.redundant(150_000, uniqueFraction: 0.3)
        let result = try roundTrip(input, Self.configuration(.lz4), largestPiece: 1)
        #expect(result.decoded == input)
    }

    @Test("highly redundant input becomes references and shrinks by an order of magnitude")
    func redundantInput() throws {
        let input = TestCorpus.redundant(4 << 20, uniqueFraction: 0.1)
        let result = try roundTrip(input, Self.configuration(.lz4))
        #expect(result.decoded == input)
        #expect(result.statistics.deduplicatedByteFraction > 0.8)
        #expect(result.encoded.count < input.count / 5)
    }

    @Test("incompressible input costs a small overhead", arguments: [CodecKind.lz4, .zstd])
    func incompressibleInput(codec: CodecKind) throws {
        let input = TestCorpus.random(2 << 20)
        let result = try roundTrip(input, Self.configuration(codec))
        #expect(result.decoded == input)
        // lz4 blocks that do not shrink are stored raw; zstd stores them as raw blocks inside its frame.
        if codec == .lz4 { #expect(result.statistics.rawBlocks == result.statistics.blocks) }
        // Block headers, operations and the trailer: well under 1%.
        #expect(result.encoded.count < input.count + input.count / 100)
    }

    @Test("an edited copy of earlier random data compresses against the zstd history")
    func editedCopyUsesHistory() throws {
        let original = TestCorpus.random(300_000, seed: 8)
        var edited = original
        for position in stride(from: 1000, to: edited.count, by: 3000) { edited[position] ^= 0xFF }
        // Chunks differ, so chunk dedup finds nothing in the copy; only the codec's history can.
        let result = try roundTrip(original + edited, Self.configuration(.zstd, average: 1024))
        #expect(result.decoded == original + edited)
        #expect(result.encoded.count < original.count + original.count / 5)
    }

    @Test("a window of zero bytes never references")
    func noWindow() throws {
        let input = TestCorpus.redundant(1 << 20)
        let result = try roundTrip(input, Self.configuration(.none, window: 0))
        #expect(result.decoded == input)
        #expect(result.statistics.windowReferences == 0)
    }

    @Test("a small window only references chunks it still holds")
    func smallWindow() throws {
        let input = TestCorpus.redundant(3 << 20, uniqueFraction: 0.3)
        let result = try roundTrip(input, Self.configuration(.lz4, window: 100_000))
        #expect(result.decoded == input)
        #expect(result.statistics.windowReferences > 0)
    }

    @Test("flush makes all input so far decodable")
    func flushDeliversPendingInput() throws {
        let encoder = try StreamEncoder(configuration: Self.configuration(.zstd))
        let decoder = try StreamDecoder()
        var encoded: [UInt8] = []
        var decoded: [UInt8] = []
        var sent: [UInt8] = []
        for message in 0..<20 {
            let bytes = Array("message \(message): hello over the link\n".utf8)
            sent += bytes
            try encoder.encode(bytes, into: &encoded)
            try encoder.flush(into: &encoded)
            try decoder.decode(encoded, into: &decoded)
            encoded.removeAll()
            #expect(decoded == sent)
        }
        try encoder.finish(into: &encoded)
        try decoder.decode(encoded, into: &decoded)
        try decoder.finish()
        #expect(decoded == sent)
    }

    @Test("keyed fingerprints round-trip with the key and are refused without it")
    func keyedFingerprints() throws {
        let key = Array("a deployment secret of 32 bytes!".utf8)
        let plain = try Self.configuration(.lz4)
        let configuration = try EncoderConfiguration(
            chunker: plain.chunker, codec: plain.codec, windowSize: plain.windowSize, blockSize: plain.blockSize,
            fingerprinter: Fingerprinter(key: key))
        let input = TestCorpus.redundant(500_000)
        let result = try roundTrip(input, configuration, options: DecoderOptions(fingerprinter: try Fingerprinter(key: key)))
        #expect(result.decoded == input)
        let error = #expect(throws: FormatError.self) { try Replica.decompress(result.encoded, maximumOutputSize: 1 << 30) }
        #expect(error?.code == .wrongKey)
        let wrong = try DecoderOptions(fingerprinter: try Fingerprinter(key: Array("another secret, also 32 bytes!!!".utf8)))
        #expect(throws: FormatError.self) { try Replica.decompress(result.encoded, maximumOutputSize: 1 << 30, options: wrong) }
    }

    @Test("whole-buffer helpers round-trip the golden image")
    func wholeBuffer() throws {
        let image = try Fixtures.bytes("SekienAkashita.jpg")
        let encoded = try Replica.compress(image + image, configuration: EncoderConfiguration())
        #expect(try Replica.decompress(encoded, maximumOutputSize: 1 << 30) == image + image)
        #expect(encoded.count < image.count + 4096)
    }
}

@Suite("Stream statistics")
struct StreamStatisticsTests {
    @Test("+= adds every counter, so totals over concatenated streams miss none")
    func additionCoversEveryCounter() throws {
        var sample = StreamStatistics()
        let stream = try Replica.compress(TestCorpus.redundant(300_000), configuration: EncoderConfiguration())
        let decoder = try StreamDecoder()
        var output: [UInt8] = []
        try decoder.decode(stream, into: &output)
        sample = decoder.statistics
        sample.prefixedBlocks = 3
        sample.missingChunks = 5
        sample.storeReferences = 7
        sample.storeReferenceBytes = 11
        sample.storeRuns = 2
        sample.rawBlocks = 13
        sample.transientLiterals = 17
        sample.transientBytes = 19
        sample.skippedBytes = 23
        var total = sample
        total += sample
        let fields = Mirror(reflecting: sample).children.compactMap { $0.value as? UInt64 }
        let doubled = Mirror(reflecting: total).children.compactMap { $0.value as? UInt64 }
        #expect(fields.count == Mirror(reflecting: sample).children.count, "every counter is a UInt64")
        #expect(fields.allSatisfy { $0 > 0 }, "the sample sets every counter, so a forgotten one shows")
        #expect(doubled == fields.map { $0 * 2 })
    }
}
