import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// Store-backed streams between two disk stores, as `replica compress --store A` and `decompress --store B` use
/// them: the second version of a file costs only its new chunks.
@Suite("DiskChunkStore: warm transfers between two disk stores")
struct DiskChunkStoreWarmTransferTests {
    static func encode(_ input: [UInt8], store: (any ChunkStore)?) throws -> [UInt8] {
        let configuration = try EncoderConfiguration(chunker: ChunkerConfiguration(averageSize: 4096))
        let encoder = try StreamEncoder(configuration: configuration, store: store)
        var encoded: [UInt8] = []
        try encoder.encode(input, into: &encoded)
        try encoder.finish(into: &encoded)
        return encoded
    }

    static func decode(_ encoded: [UInt8], store: (any ChunkStore)?) throws -> [UInt8] {
        let decoder = try StreamDecoder(store: store)
        var output: [UInt8] = []
        try decoder.decode(encoded, into: &output)
        try decoder.finish()
        return output
    }

    /// Version 1: 3 MiB of text-like bytes and 3 MiB of random bytes, interleaved in 256 KiB pieces.
    static let version1: [UInt8] = {
        var output: [UInt8] = []
        for piece in 0..<24 {
            output +=
                piece % 2 == 0
                ? TestCorpus.text(256 << 10, seed: UInt64(piece)) : TestCorpus.random(256 << 10, seed: UInt64(piece))
        }
        return output
    }()

    /// Version 2: version 1 with 40 small insertions, 20 deletions and three 64 KiB blocks moved elsewhere.
    static let version2: [UInt8] = {
        var generator = SplitMix64(seed: 99)
        var output = version1
        for _ in 0..<3 {
            let from = Int(generator.next() % UInt64(output.count - (64 << 10)))
            let block = Array(output[from..<(from + (64 << 10))])
            output.removeSubrange(from..<(from + (64 << 10)))
            output.insert(contentsOf: block, at: Int(generator.next() % UInt64(output.count)))
        }
        for _ in 0..<20 {
            let at = Int(generator.next() % UInt64(output.count - 2000))
            output.removeSubrange(at..<(at + 1 + Int(generator.next() % 1500)))
        }
        for index in 0..<40 {
            let at = Int(generator.next() % UInt64(output.count))
            output.insert(contentsOf: Array("inserted line \(index) of version 2\n".utf8), at: at)
        }
        return output
    }()

    @Test("v2 against the store costs a small fraction of its self-contained size, and B rebuilds it exactly")
    func warmTransfer() throws {
        let sender = StoreFixture()
        let receiver = StoreFixture()
        let firstStream: [UInt8]
        do {
            let (a, b) = (
                try sender.open(capacity: 64 << 20, segmentSize: 4 << 20),
                try receiver.open(capacity: 64 << 20, segmentSize: 4 << 20)
            )
            firstStream = try Self.encode(Self.version1, store: a)
            #expect(try Self.decode(firstStream, store: b) == Self.version1)
            #expect(b.count == a.count)
            try a.close()
            try b.close()
        }
        // The next transfer runs in new processes: the stores come back from disk.
        let a = try sender.open(capacity: nil)
        let b = try receiver.open(capacity: nil)
        let secondStream = try Self.encode(Self.version2, store: a)
        let selfContained = try Self.encode(Self.version2, store: nil)
        #expect(try Self.decode(secondStream, store: b) == Self.version2)
        #expect(secondStream.count * 10 < selfContained.count, "\(secondStream.count) vs \(selfContained.count)")
        let decoder = try StreamDecoder(store: b)
        var output: [UInt8] = []
        try decoder.decode(secondStream, into: &output)
        #expect(decoder.header?.storeID == a.storeID)
        if let directory = ProcessInfo.processInfo.environment["REPLICA_STORE_FIGURES"] {
            for (name, bytes) in [
                ("v1", Self.version1), ("v2", Self.version2), ("v1.rpl", firstStream),
                ("v2.rpl", secondStream), ("v2.self.rpl", selfContained),
            ] {
                try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
            }
        }
    }

    @Test(
        "a receiver that lacks chunks names how many, the first, and the stream's other store; a stream needs a store")
    func missingChunks() throws {
        let sender = StoreFixture()
        let receiver = StoreFixture()
        let a = try sender.open(capacity: 64 << 20, segmentSize: 4 << 20)
        let b = try receiver.open(capacity: 64 << 20, segmentSize: 4 << 20)
        _ = try Self.decode(try Self.encode(Self.version1, store: a), store: b)
        let secondStream = try Self.encode(Self.version2, store: a)
        try b.purge()
        #expect {
            _ = try Self.decode(secondStream, store: b)
        } throws: { error in
            guard let error = error as? FormatError, error.code == .missingChunks else { return false }
            return error.message.contains("store \(b.storeID) lacks ") && error.message.contains("(first: ")
                && error.message.hasSuffix("; the stream names store \(a.storeID)")
        }
        #expect {
            _ = try Self.decode(secondStream, store: nil)
        } throws: { error in
            guard let error = error as? FormatError, error.code == .wrongStore else { return false }
            return error.message.contains("\(a.storeID)")
        }
    }
}
