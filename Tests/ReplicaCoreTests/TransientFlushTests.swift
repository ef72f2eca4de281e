import ReplicaCore
import ReplicaTestSupport
import Testing

/// Flushes that keep chunks whole (format 3): the undecided end of a flushed batch travels as a transient literal,
/// and its chunk later travels whole after a skip, so both stores hold exactly the chunks of one pass.
@Suite("Flushes without cut chunks (format 3)")
struct TransientFlushTests {
    static var chunker: ChunkerConfiguration { get throws { try ChunkerConfiguration(averageSize: 2048) } }
    static var configuration: EncoderConfiguration {
        get throws { try EncoderConfiguration(chunker: chunker, windowSize: 1 << 20, blockSize: 64 << 10) }
    }
    static let input = TestCorpus.text(200_000, seed: 31) + TestCorpus.random(60_000, seed: 32)

    /// The fingerprints of `bytes` cut in one pass.
    static func onePassChunks(_ bytes: [UInt8]) throws -> [Fingerprint] {
        var chunker = Chunker(try Self.chunker)
        var chunks: [Fingerprint] = []
        bytes.withUnsafeBytes { buffer in
            chunker.append(buffer) { chunks.append(Fingerprinter().fingerprint($0)) }
        }
        chunker.finish { chunks.append(Fingerprinter().fingerprint($0)) }
        return chunks
    }

    /// Sends `bytes` through `encoder` in `pieces`, flushing after each without cutting a chunk, and decodes
    /// each flush at once: every flush must deliver exactly the bytes fed so far.
    static func send(
        _ bytes: [UInt8], pieces: [Int], encoder: StreamEncoder, decoder: StreamDecoder, finish: Bool = true
    ) throws -> [UInt8] {
        var delivered: [UInt8] = []
        var fed = 0
        var index = 0
        while fed < bytes.count {
            let size = min(pieces[index % pieces.count], bytes.count - fed)
            index += 1
            var encoded: [UInt8] = []
            try encoder.encode(Array(bytes[fed..<(fed + size)]), into: &encoded)
            try encoder.flush(into: &encoded, cutChunk: false)
            fed += size
            try decoder.decode(encoded, into: &delivered)
            #expect(delivered.count == fed, "a flush delivers everything fed so far")
        }
        if finish {
            var encoded: [UInt8] = []
            try encoder.finish(into: &encoded)
            try decoder.decode(encoded, into: &delivered)
            try decoder.finish()
        }
        return delivered
    }

    @Test("both stores hold exactly the one-pass chunks, whatever the flush sizes", arguments: [
        [1], [100, 3000], [4096], [777, 13, 20_000],
    ])
    func storesHoldWholeChunks(pieces: [Int]) throws {
        let sender = MemoryChunkStore(capacity: 64 << 20)
        let receiver = MemoryChunkStore(capacity: 64 << 20, storeID: sender.storeID)
        let encoder = try StreamEncoder(configuration: try Self.configuration, store: sender)
        let decoder = try StreamDecoder(store: receiver)
        let input = pieces == [1] ? Array(Self.input.prefix(20_000)) : Self.input
        #expect(try Self.send(input, pieces: pieces, encoder: encoder, decoder: decoder) == input)
        let chunks = Set(try Self.onePassChunks(input))
        for store in [sender, receiver] {
            #expect(store.count == chunks.count, "no piece of a chunk is stored")
            #expect(chunks.allSatisfy { store.contains($0) })
        }
        #expect(encoder.statistics.transientBytes > 0)
        #expect(decoder.statistics.skippedBytes == encoder.statistics.skippedBytes)
        #expect(decoder.statistics.transientBytes == encoder.statistics.transientBytes)
    }

    @Test("a warm copy flushed elsewhere references every chunk whole")
    func warmCopyIsAllReferences() throws {
        let sender = MemoryChunkStore(capacity: 64 << 20)
        let receiver = MemoryChunkStore(capacity: 64 << 20, storeID: sender.storeID)
        let first = try StreamEncoder(configuration: try Self.configuration, store: sender)
        _ = try Self.send(
            Self.input, pieces: [1000], encoder: first, decoder: try StreamDecoder(store: receiver))
        let second = try StreamEncoder(configuration: try Self.configuration, store: sender)
        let decoder = try StreamDecoder(store: receiver)
        #expect(try Self.send(Self.input, pieces: [777, 5000], encoder: second, decoder: decoder) == Self.input)
        // Each flush's tail travels as a transient literal, then its chunk as a reference: no chunk is new.
        #expect(second.statistics.literalChunks == 0)
        #expect(second.statistics.skippedBytes > 0)
        #expect(second.statistics.storeRuns > 0)
        #expect(decoder.statistics.storeReferences == UInt64(try Self.onePassChunks(Self.input).count))
    }

    @Test("interleaved flows, each with its own chunker and carried bytes, decode through one decoder")
    func interleavedFlows() throws {
        let encoder = try StreamEncoder(configuration: try Self.configuration)
        let decoder = try StreamDecoder()
        let flows = [Self.input, TestCorpus.text(150_000, seed: 33)]
        let configuration = try Self.chunker
        var chunkers = flows.map { _ in Chunker(configuration) }
        var carried: [[UInt8]] = [[], []]
        var offsets = [0, 0]
        var turn = 0
        while offsets[0] < flows[0].count || offsets[1] < flows[1].count {
            let flow = turn % 2
            turn += 1
            let size = min([1500, 9000][flow] + turn, flows[flow].count - offsets[flow])
            guard size > 0 else { continue }
            chunkers[flow] = encoder.exchangeChunker(chunkers[flow])
            var encoded: [UInt8] = []
            try encoder.encode(Array(flows[flow][offsets[flow]..<(offsets[flow] + size)]), into: &encoded)
            try encoder.flush(into: &encoded, cutChunk: false)
            chunkers[flow] = encoder.exchangeChunker(chunkers[flow])
            var output: [UInt8] = []
            carried[flow] = decoder.exchangeCarriedBytes(carried[flow])
            try decoder.decode(encoded, into: &output)
            carried[flow] = decoder.exchangeCarriedBytes(carried[flow])
            #expect(carried[flow].count <= configuration.maximumSize)
            #expect(output[...] == flows[flow][offsets[flow]..<(offsets[flow] + size)])
            offsets[flow] += size
        }
        #expect(encoder.statistics.skippedBytes > 0)
    }

    @Test("every flipped byte of a stream with transient literals and skips is detected")
    func everyByteFlip() throws {
        let encoder = try StreamEncoder(configuration: try Self.configuration)
        var encoded: [UInt8] = []
        let input = Array(Self.input.prefix(12_000))
        for start in stride(from: 0, to: input.count, by: 2500) {
            try encoder.encode(Array(input[start..<min(input.count, start + 2500)]), into: &encoded)
            try encoder.flush(into: &encoded, cutChunk: false)
        }
        try encoder.finish(into: &encoded)
        #expect(encoder.statistics.skippedBytes > 0)
        #expect(try Replica.decompress(encoded, maximumOutputSize: 1 << 20) == input)
        for index in encoded.indices {
            var damaged = encoded
            damaged[index] ^= 0x5A
            #expect(decodeError(damaged) is FormatError, "flip at \(index) of \(encoded.count) went undetected")
        }
    }

    /// The error a version-3 stream of one block of `operations` ends in.
    static func hostile(_ operations: [HandmadeStream.Operation], maximumChunk: Int = 256) throws -> FormatError {
        var stream = HandmadeStream(windowSize: 1 << 20, maximumChunk: maximumChunk, version: 3)
        try stream.appendBlock([.literal(Array(repeating: 7, count: 100))])
        try stream.appendBlock(operations)
        let bytes = stream.finish()
        let decoder = try StreamDecoder()
        var output: [UInt8] = []
        let error = try #require(throws: FormatError.self) { try decoder.decode(bytes, into: &output) }
        #expect(output.count == 100, "nothing of the bad block is delivered")
        return error
    }

    @Test("hostile skips and transient literals end in a clear error", arguments: [
        ([.skip(1), .windowReference(1)], "only 0 bytes were delivered ahead"),
        ([.transient([7, 7]), .skip(3), .windowReference(1)], "only 2 bytes were delivered ahead"),
        ([.transient([1, 2]), .skip(2), .windowReference(1)], "does not begin with the 2 bytes delivered ahead"),
        ([.transient([1, 2, 3, 4, 5]), .skip(5), .literal([1, 2, 3])], "literal of 3 bytes overruns"),
        ([.transient([7]), .literal([1, 2]), .skip(1)], "no chunk after it"),
        ([.transient([7]), .skip(1), .skip(1), .windowReference(1)], "not by a chunk"),
        ([.transient([7]), .skip(1), .transient([1, 2]), .windowReference(1)], "not by a chunk"),
        ([.transient(Array(repeating: 1, count: 200)), .transient(Array(repeating: 2, count: 100))], "more than one chunk"),
        ([.extended(code: 2, value: 0), .windowReference(1)], "1 to 256 allowed"),
        ([.extended(code: 1, value: 0)], "1 to 256 allowed"),
        ([.extended(code: 2, value: 257), .windowReference(1)], "1 to 256 allowed"),
        ([.extended(code: 1, value: 50)], "overruns the literal section"),
        ([.extended(code: 9, value: 1), .windowReference(1)], "unknown extended operation 9"),
    ] as [([HandmadeStream.Operation], String)])
    func hostileRecords(operations: [HandmadeStream.Operation], message: String) throws {
        let error = try Self.hostile(operations)
        #expect(error.code == .corrupt)
        #expect(error.message.contains(message), "\(error)")
    }

    @Test("a stream that ends with transient bytes no chunk took is refused at its trailer")
    func transientBytesLeftAtTheEnd() throws {
        var stream = HandmadeStream(windowSize: 1 << 20, version: 3)
        try stream.appendBlock([.transient([1, 2, 3])])
        let error = try #require(decodeError(stream.finish()) as? FormatError)
        #expect(error.code == .corrupt)
        #expect(error.message.contains("3 transient bytes that no chunk took"), "\(error)")
    }

    @Test("a skip of a whole chunk delivers nothing more, and a well-formed stream of both records decodes")
    func handmadeRecordsDecode() throws {
        var stream = HandmadeStream(windowSize: 1 << 20, version: 3)
        let chunk = Array((0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try stream.appendBlock([.transient(Array(chunk[0..<80]))])
        try stream.appendBlock([.transient(Array(chunk[80..<200])), .skip(200), .literal(chunk)])
        try stream.appendBlock([.transient(Array(chunk[0..<2])), .skip(2), .windowReference(1)], storage: .zstd())
        let bytes = stream.finish()
        let decoder = try StreamDecoder()
        var output: [UInt8] = []
        try decoder.decode(bytes, into: &output)
        try decoder.finish()
        // The window reference stands for the whole chunk, whose first two bytes the transient literal delivered.
        #expect(output == chunk + chunk)
        #expect(decoder.statistics.transientBytes == 202)
        #expect(decoder.statistics.skippedBytes == 202)
    }
}
