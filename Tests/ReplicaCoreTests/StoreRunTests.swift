import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("Store runs: consecutive stored chunks as one operation")
struct StoreRunTests {
    static let configuration = Result { try EncoderConfiguration(chunker: ChunkerConfiguration(averageSize: 2048)) }

    static func encode(_ input: [UInt8], store: MemoryChunkStore) throws -> ([UInt8], StreamStatistics) {
        let encoder = try StreamEncoder(configuration: configuration.get(), store: store)
        var encoded: [UInt8] = []
        try encoder.encode(input, into: &encoded)
        try encoder.finish(into: &encoded)
        return (encoded, encoder.statistics)
    }

    /// Decodes `stream` into `output`, returning the error that ended it, if any.
    static func decode(_ stream: [UInt8], store: MemoryChunkStore, into output: inout [UInt8]) -> (any Error)? {
        do {
            let decoder = try StreamDecoder(store: store)
            try decoder.decode(stream, into: &output)
            try decoder.finish()
            return nil
        } catch {
            return error
        }
    }

    /// The chunks of `input` as the encoder cuts them.
    static func chunks(_ input: [UInt8]) throws -> [[UInt8]] {
        var chunker = Chunker(try configuration.get().chunker)
        var chunks: [[UInt8]] = []
        input.withUnsafeBytes { buffer in chunker.append(buffer) { chunks.append(Array($0)) } }
        chunker.finish { chunks.append(Array($0)) }
        return chunks
    }

    static let first = TestCorpus.text(600_000, seed: 11) + TestCorpus.random(300_000, seed: 12)
    static var second: [UInt8] {
        var second = first
        second.insert(contentsOf: Array("an insertion in the middle".utf8), at: 300_000)
        second.replaceSubrange(700_000..<700_010, with: Array("ten bytes!".utf8))
        return second
    }

    @Test("a warm transfer sends the unchanged stretches as a few runs")
    func warmTransferUsesRuns() throws {
        let storeID = StoreID.random()
        let sender = MemoryChunkStore(capacity: 64 << 20, storeID: storeID)
        let receiver = MemoryChunkStore(capacity: 64 << 20, storeID: storeID)
        var output: [UInt8] = []
        #expect(Self.decode(try Self.encode(Self.first, store: sender).0, store: receiver, into: &output) == nil)
        #expect(output == Self.first)
        let (stream, statistics) = try Self.encode(Self.second, store: sender)
        output.removeAll()
        #expect(Self.decode(stream, store: receiver, into: &output) == nil)
        #expect(output == Self.second)
        #expect(statistics.storeReferences > 300)
        // Two edits split the stored stretch into a few runs (blocks end runs too).
        #expect(statistics.storeRuns >= 2 && statistics.storeRuns * 20 < statistics.storeReferences, "\(statistics)")
        // 17 bytes per reference would be more than the whole stream.
        #expect(stream.count < Int(statistics.storeReferences) * 17, "\(stream.count) bytes, \(statistics)")
    }

    @Test("a receiver whose store holds the chunks in another order is told so, and gets no wrong byte")
    func otherOrderIsDetected() throws {
        let sender = MemoryChunkStore(capacity: 64 << 20)
        _ = try Self.encode(Self.first, store: sender)
        let receiver = MemoryChunkStore(capacity: 64 << 20, storeID: sender.storeID)
        let fingerprinter = Fingerprinter()
        for chunk in try Self.chunks(Self.first).reversed() {
            chunk.withUnsafeBytes { receiver.put($0, as: fingerprinter.fingerprint($0)) }
        }
        let (stream, statistics) = try Self.encode(Self.second, store: sender)
        #expect(statistics.storeRuns > 0)
        var output: [UInt8] = []
        let error = try #require(Self.decode(stream, store: receiver, into: &output) as? FormatError)
        #expect(error.code == .storeOrderMismatch)
        #expect(error.description.contains("order"), "\(error)")
        #expect(Self.second.starts(with: output), "only verified blocks before the failure are delivered")
        #expect(output.count < Self.second.count)
    }

    @Test("a run whose chunks the receiver lacks is reported as missing chunks")
    func missingRun() throws {
        let sender = MemoryChunkStore(capacity: 64 << 20)
        _ = try Self.encode(Self.first, store: sender)
        let (stream, _) = try Self.encode(Self.second, store: sender)
        var output: [UInt8] = []
        let empty = MemoryChunkStore(capacity: 64 << 20, storeID: sender.storeID)
        let error = try #require(Self.decode(stream, store: empty, into: &output) as? FormatError)
        #expect(error.code == .missingChunks)
        #expect(Self.second.starts(with: output))
    }
}
