import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("Store-backed streams and the memory store")
struct StoreBackedStreamTests {
    static func encode(
        _ input: [UInt8], store: MemoryChunkStore, codec: CodecKind = .zstd, statistics: inout StreamStatistics
    ) throws -> [UInt8] {
        let encoder = try StreamEncoder(
            configuration: EncoderConfiguration(
                chunker: ChunkerConfiguration(averageSize: 2048), codec: CodecConfiguration(codec)),
            store: store)
        var encoded: [UInt8] = []
        try encoder.encode(input, into: &encoded)
        try encoder.finish(into: &encoded)
        statistics = encoder.statistics
        return encoded
    }

    static func encode(_ input: [UInt8], store: MemoryChunkStore, codec: CodecKind = .zstd) throws -> [UInt8] {
        var statistics = StreamStatistics()
        return try encode(input, store: store, codec: codec, statistics: &statistics)
    }

    static func decode(_ encoded: [UInt8], store: MemoryChunkStore) throws -> [UInt8] {
        let decoder = try StreamDecoder(store: store)
        var output: [UInt8] = []
        try decoder.decode(encoded, into: &output)
        try decoder.finish()
        return output
    }

    @Test("the second transfer sends only new chunks and the receiver learns the first")
    func warmTransfer() throws {
        let sender = MemoryChunkStore(capacity: 64 << 20)
        let receiver = MemoryChunkStore(capacity: 64 << 20)
        let first = TestCorpus.text(600_000, seed: 1) + TestCorpus.random(200_000, seed: 2)
        var second = first
        second.insert(contentsOf: Array("an insertion in the middle".utf8), at: 300_000)
        second.removeSubrange(500_000..<520_000)
        let firstStream = try Self.encode(first, store: sender)
        #expect(try Self.decode(firstStream, store: receiver) == first)
        #expect(receiver.count == sender.count)
        let secondStream = try Self.encode(second, store: sender)
        #expect(try Self.decode(secondStream, store: receiver) == second)
        #expect(secondStream.count < firstStream.count / 10)
    }

    /// `input` with a few bytes changed every `spacing` bytes: nearly every chunk is an edited copy.
    static func edited(_ input: [UInt8], every spacing: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var output = input
        for position in stride(from: spacing / 2, to: output.count, by: spacing) {
            output[position] = UInt8(truncatingIfNeeded: generator.next())
        }
        return output
    }

    @Test(
        "edited chunks are compressed against their stored predecessors",
        arguments: ["text", "random"])
    func editedChunksUseStorePrefix(corpus: String) throws {
        let first = corpus == "text" ? TestCorpus.text(800_000, seed: 4) : TestCorpus.random(800_000, seed: 5)
        let second = Self.edited(first, every: 3000, seed: 6)
        var sizes: [CodecKind: Int] = [:]
        for codec in [CodecKind.lz4, .zstd] {
            let sender = MemoryChunkStore(capacity: 64 << 20)
            let receiver = MemoryChunkStore(capacity: 64 << 20)
            #expect(try Self.decode(Self.encode(first, store: sender, codec: codec), store: receiver) == first)
            var statistics = StreamStatistics()
            let stream = try Self.encode(second, store: sender, codec: codec, statistics: &statistics)
            #expect(try Self.decode(stream, store: receiver) == second)
            #expect(statistics.deduplicatedByteFraction < 0.5, "the edits must defeat whole-chunk dedup")
            #expect((statistics.prefixedBlocks > 0) == (codec == .zstd))
            sizes[codec] = stream.count
        }
        // lz4 has no prefix: the edited chunks cost their full compressed size.
        #expect(try #require(sizes[.zstd]) * 5 < (try #require(sizes[.lz4])), "\(sizes)")
    }

    @Test("a receiver that lacks chunks names how many and the first")
    func missingChunks() throws {
        let sender = MemoryChunkStore(capacity: 64 << 20)
        let input = TestCorpus.random(300_000)
        _ = try Self.encode(input, store: sender)
        let stream = try Self.encode(input, store: sender)
        let empty = MemoryChunkStore(capacity: 64 << 20)
        let error = try #require(throws: FormatError.self) { try Self.decode(stream, store: empty) }
        #expect(error.code == .missingChunks)
        #expect(error.message.contains("store \(empty.storeID) lacks \(sender.count) chunks"))
    }

    @Test("a store-backed stream needs a store")
    func storeRequired() throws {
        let stream = try Self.encode(TestCorpus.text(10_000), store: MemoryChunkStore(capacity: 1 << 20))
        let error = try #require(throws: FormatError.self) { try Replica.decompress(stream, maximumOutputSize: 1 << 30) }
        #expect(error.code == .wrongStore)
    }

    @Test("the memory store evicts the least recently used chunks within its capacity")
    func lruEviction() throws {
        let store = MemoryChunkStore(capacity: 10_000)
        let fingerprinter = Fingerprinter()
        let chunks = (0..<20).map { TestCorpus.random(1000, seed: UInt64($0)) }
        let prints = chunks.map { fingerprinter.fingerprint($0) }
        for index in 0..<10 { chunks[index].withUnsafeBytes { store.put($0, as: prints[index]) } }
        #expect(store.count == 10)
        #expect(store.get(prints[0]) == chunks[0])  // touch the oldest
        for index in 10..<15 { chunks[index].withUnsafeBytes { store.put($0, as: prints[index]) } }
        #expect(store.storedBytes <= store.capacity)
        #expect(store.contains(prints[0]))
        #expect(!store.contains(prints[1]))
        #expect(store.contains(prints[14]))
        store.remove(prints[14])
        #expect(!store.contains(prints[14]))
        #expect(store.storedBytes == 9000)
    }

    @Test("the memory store keeps an array it is given as it is; other stores take a copy through put(buffer)")
    func arrayPut() throws {
        let store = MemoryChunkStore(capacity: 1 << 20)
        let chunk = TestCorpus.random(4000, seed: 3)
        let fingerprint = Fingerprinter().fingerprint(chunk)
        store.put(chunk, as: fingerprint)
        let held = try #require(store.get(fingerprint))
        #expect(held == chunk)
        #expect(held.withUnsafeBytes { $0.baseAddress } == chunk.withUnsafeBytes { $0.baseAddress })
        #expect(store.storedBytes == 4000)
        // A store without its own array method gets the bytes through put(_:as:) for a buffer.
        let recording = RecordingStore()
        try recording.put(chunk, as: fingerprint)
        #expect(recording.puts == [fingerprint: chunk])
    }
}

/// A store that records the buffers put into it (the protocol's default array put goes through them).
private final class RecordingStore: ChunkWriting, @unchecked Sendable {
    var puts: [Fingerprint: [UInt8]] = [:]
    var storeID: StoreID { .none }
    func contains(_ fingerprint: Fingerprint) -> Bool { puts[fingerprint] != nil }
    func get(_ fingerprint: Fingerprint) -> [UInt8]? { puts[fingerprint] }
    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) { puts[fingerprint] = Array(bytes) }
}
