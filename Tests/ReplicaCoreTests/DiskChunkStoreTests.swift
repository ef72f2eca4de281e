import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// A temporary store directory, removed when the fixture goes away, and seeded chunks to fill it with.
final class StoreFixture {
    let directory: String

    init() {
        directory = NSTemporaryDirectory() + "replica-store-" + UUID().uuidString
    }

    deinit { try? FileManager.default.removeItemIfPresent(atPath: directory) }

    func open(
        capacity: Int? = 8 << 20, segmentSize: Int? = 256 << 10, compression: CodecKind = .none,
        fingerprinter: Fingerprinter = Fingerprinter(), durability: DiskChunkStore.Durability = .default
    ) throws -> DiskChunkStore {
        let options = try DiskChunkStore.Options(
            capacity: capacity, segmentSize: segmentSize, durability: durability, compression: compression,
            fingerprinter: fingerprinter)
        return try DiskChunkStore(directory: directory, options: options)
    }

    /// `count` random chunks of 1 to 16 KiB (or text-like, which lz4 compresses), with their fingerprints.
    static func chunks(_ count: Int, seed: UInt64 = 7, text: Bool = false) -> [(Fingerprint, [UInt8])] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let size = 1024 + Int(generator.next() % (15 << 10))
            let bytes = text ? TestCorpus.text(size, seed: seed &+ UInt64(index)) : generator.bytes(size)
            return (Fingerprinter().fingerprint(bytes), bytes)
        }
    }
}

extension FileManager {
    func removeItemIfPresent(atPath path: String) throws {
        if fileExists(atPath: path) { try removeItem(atPath: path) }
    }
}

extension DiskChunkStore {
    func put(_ bytes: [UInt8], as fingerprint: Fingerprint) throws {
        try bytes.withUnsafeBytes { try put($0, as: fingerprint) }
    }
}

@Suite("DiskChunkStore: basics, persistence, identity and locking")
struct DiskChunkStoreTests {
    @Test("put, get, contains, remove and count", arguments: [CodecKind.none, .lz4])
    func roundTrip(compression: CodecKind) throws {
        let fixture = StoreFixture()
        let store = try fixture.open(compression: compression)
        let chunks = StoreFixture.chunks(50, text: compression == .lz4)
        for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
        #expect(store.count == 50)
        for (fingerprint, bytes) in chunks {
            #expect(store.contains(fingerprint))
            #expect(try store.get(fingerprint) == bytes)
        }
        try store.remove(chunks[3].0)
        #expect(!store.contains(chunks[3].0))
        #expect(try store.get(chunks[3].0) == nil)
        #expect(store.count == 49)
        let statistics = store.statistics
        #expect(statistics.chunkBytes == chunks.reduce(0) { $0 + $1.1.count } - chunks[3].1.count)
        if compression == .lz4 { #expect(statistics.liveRecordBytes < statistics.chunkBytes) }
        #expect(store.storedBytes <= store.capacity)
    }

    @Test("chunks, removals and the identity survive a close and reopen")
    func persistence() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(40)
        let identity: StoreID
        do {
            let store = try fixture.open()
            identity = store.storeID
            for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
            try store.remove(chunks[0].0)
            try store.close()
        }
        let store = try fixture.open(capacity: nil)
        #expect(store.storeID == identity)
        #expect(store.capacity == 8 << 20)
        #expect(store.statistics.recovery.usedSnapshot)
        #expect(store.statistics.recovery.segmentsScanned == 0)
        #expect(try store.get(chunks[0].0) == nil)
        for (fingerprint, bytes) in chunks.dropFirst() { #expect(try store.get(fingerprint) == bytes) }
    }

    @Test("the store codec is recorded at creation and kept by later opens")
    func storeCodec() throws {
        let fixture = StoreFixture()
        try fixture.open(compression: .lz4).close()
        let store = try DiskChunkStore(directory: fixture.directory)
        for (fingerprint, bytes) in StoreFixture.chunks(20, text: true) { try store.put(bytes, as: fingerprint) }
        #expect(store.statistics.liveRecordBytes < store.statistics.chunkBytes)
    }

    @Test("a second open is refused with the owner's pid, and allowed after close")
    func lock() throws {
        let fixture = StoreFixture()
        let store = try fixture.open()
        #expect {
            _ = try fixture.open()
        } throws: { error in
            "\(error)" == "store \(fixture.directory) is in use by pid \(ProcessInfo.processInfo.processIdentifier)"
        }
        try store.close()
        #expect(throws: ChunkStoreError.self) { try store.put([1, 2, 3], as: Fingerprinter().fingerprint([1, 2, 3])) }
        _ = try fixture.open()
    }

    @Test("a directory that is not a store, and a store with another fingerprint key, are refused")
    func refusals() throws {
        let fixture = StoreFixture()
        try FileManager.default.createDirectory(atPath: fixture.directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: fixture.directory + "/notes.txt", contents: Data("x".utf8))
        #expect {
            _ = try fixture.open()
        } throws: { error in
            "\(error)".contains("is not a Replica store")
        }
        let keyed = StoreFixture()
        try keyed.open(fingerprinter: try Fingerprinter(key: Array(repeating: 9, count: 16))).close()
        #expect {
            _ = try keyed.open()
        } throws: { error in
            "\(error)".contains("keyed fingerprints")
        }
        let options = try DiskChunkStore.Options(capacity: nil, createIfMissing: false)
        #expect(throws: ChunkStoreError.self) {
            _ = try DiskChunkStore(directory: fixture.directory + "/none", options: options)
        }
    }

    @Test("a keyed store verifies reads with its key")
    func keyed() throws {
        let fixture = StoreFixture()
        let fingerprinter = try Fingerprinter(key: Array(repeating: 7, count: 32))
        let store = try fixture.open(fingerprinter: fingerprinter)
        let bytes = TestCorpus.random(5000, seed: 8)
        try store.put(bytes, as: fingerprinter.fingerprint(bytes))
        #expect(try store.get(fingerprinter.fingerprint(bytes)) == bytes)
        // Stored under the plain fingerprint, the bytes cannot be vouched for by the keyed one: reported missing.
        try store.put(bytes, as: Fingerprinter().fingerprint(bytes))
        #expect(try store.get(Fingerprinter().fingerprint(bytes)) == nil)
        #expect(store.statistics.quarantined == 1)
    }

    @Test("options are checked")
    func options() {
        #expect(throws: ConfigurationError.self) { _ = try DiskChunkStore.Options(capacity: 1000) }
        #expect(throws: ConfigurationError.self) {
            _ = try DiskChunkStore.Options(capacity: 8 << 20, segmentSize: 4 << 20)
        }
        #expect(throws: ConfigurationError.self) { _ = try DiskChunkStore.Options(capacity: nil, compression: .zstd) }
    }

    @Test("purge drops every chunk and keeps or renews the identity", arguments: [false, true])
    func purge(newIdentity: Bool) throws {
        let fixture = StoreFixture()
        let store = try fixture.open()
        let identity = store.storeID
        let chunks = StoreFixture.chunks(30)
        for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
        try store.purge(newIdentity: newIdentity)
        #expect(store.count == 0)
        #expect((store.storeID == identity) != newIdentity)
        try store.put(chunks[1].1, as: chunks[1].0)
        try store.close()
        let reopened = try fixture.open()
        #expect(reopened.count == 1)
        #expect((reopened.storeID == identity) != newIdentity)
        #expect(try reopened.get(chunks[0].0) == nil)
    }

    @Test("readers on other threads see whole chunks or none while one writer evicts and compacts")
    func concurrentReaders() async throws {
        let fixture = StoreFixture()
        let store = try fixture.open(capacity: 2 << 20, segmentSize: 128 << 10)
        let chunks = StoreFixture.chunks(600, seed: 11)
        for (fingerprint, bytes) in chunks.prefix(50) { try store.put(bytes, as: fingerprint) }
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for (fingerprint, bytes) in chunks.dropFirst(50) { try store.put(bytes, as: fingerprint) }
                try store.compact()
                return 0
            }
            for reader in 0..<3 {
                group.addTask {
                    var wrong = 0
                    for round in 0..<2000 {
                        let (fingerprint, bytes) = chunks[(round * 7 + reader * 13) % chunks.count]
                        if let read = try store.get(fingerprint), read != bytes { wrong += 1 }
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wrong == 0)
        #expect(try store.verify().isClean)
    }
}
