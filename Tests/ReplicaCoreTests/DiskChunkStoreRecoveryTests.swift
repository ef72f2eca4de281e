import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// Bytes of a file, and writes back through `FileHandle` (the store's own files, damaged on purpose).
enum FileBytes {
    static func read(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func write(_ bytes: [UInt8], _ path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
    }
}

@Suite("DiskChunkStore: recovery after a crash")
struct DiskChunkStoreRecoveryTests {
    @Test("a crash without a snapshot: the index is rebuilt from the segments, removals included")
    func rebuildWithoutSnapshot() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(80)
        do {
            let store = try fixture.open()
            for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
            try store.remove(chunks[5].0)
            store.simulateCrash()
            try FileManager.default.removeItem(atPath: store.indexPath)
        }
        let store = try fixture.open()
        let recovery = store.statistics.recovery
        #expect(!recovery.usedSnapshot)
        #expect(recovery.rebuildReason == "there is no index snapshot")
        #expect(store.count == 79)
        #expect(try store.get(chunks[5].0) == nil)
        for (fingerprint, bytes) in chunks where fingerprint != chunks[5].0 {
            #expect(try store.get(fingerprint) == bytes)
        }
        #expect(try store.verify().isClean)
    }

    @Test("a stale snapshot: only the segments' new tails are scanned")
    func staleSnapshot() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(120)
        do {
            let store = try fixture.open()
            for (fingerprint, bytes) in chunks.prefix(60) { try store.put(bytes, as: fingerprint) }
            try store.close()
        }
        do {
            let store = try fixture.open()
            for (fingerprint, bytes) in chunks.dropFirst(60) { try store.put(bytes, as: fingerprint) }
            try store.remove(chunks[1].0)
            try store.remove(chunks[70].0)
            store.simulateCrash()
        }
        let store = try fixture.open()
        let recovery = store.statistics.recovery
        #expect(recovery.usedSnapshot)
        #expect(recovery.segmentsScanned >= 1)
        #expect(store.count == 118)
        #expect(try store.get(chunks[1].0) == nil && store.get(chunks[70].0) == nil)
        #expect(try store.get(chunks[100].0) == chunks[100].1)
        #expect(
            store.statistics.chunkBytes == chunks.reduce(0) { $0 + $1.1.count } - chunks[1].1.count - chunks[70].1.count
        )
    }

    @Test("periodic snapshots bound the scan after a crash")
    func periodicSnapshots() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(600, seed: 41)
        let options = try DiskChunkStore.Options(capacity: 64 << 20, segmentSize: 1 << 20, snapshotInterval: 1 << 20)
        do {
            let store = try DiskChunkStore(directory: fixture.directory, options: options)
            for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
            store.simulateCrash()
        }
        let store = try DiskChunkStore(directory: fixture.directory, options: options)
        let recovery = store.statistics.recovery
        #expect(recovery.usedSnapshot)
        #expect(recovery.bytesScanned < (1 << 20) + (64 << 10))
        #expect(store.count == chunks.count)
        for (fingerprint, bytes) in chunks.suffix(20) { #expect(try store.get(fingerprint) == bytes) }
    }

    @Test("a torn last record is cut off and everything before it survives", arguments: [1, 47, 48, 200, 1000])
    func tornTail(cut: Int) throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(30)
        let last: String
        do {
            let store = try fixture.open()
            for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
            last = try #require(store.segmentPaths.last)
            store.simulateCrash()
        }
        let bytes = try FileBytes.read(last)
        try FileBytes.write(Array(bytes.dropLast(cut)), last)
        let store = try fixture.open()
        #expect(store.statistics.recovery.truncatedBytes > 0)
        #expect(try store.get(chunks.last!.0) == nil)
        #expect(try store.verify().isClean)
        for (fingerprint, bytes) in chunks.dropLast() { #expect(try store.get(fingerprint) == bytes) }
        let (fingerprint, content) = chunks.last!
        try store.put(content, as: fingerprint)
        #expect(try store.get(fingerprint) == content)
    }

    @Test("garbage after the last record (a write that never finished) is cut off")
    func garbageTail() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(10)
        let last: String
        do {
            let store = try fixture.open()
            for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
            last = try #require(store.segmentPaths.last)
            try store.close()
        }
        let bytes = try FileBytes.read(last)
        try FileBytes.write(bytes + TestCorpus.random(5000, seed: 3), last)
        let store = try fixture.open()
        #expect(store.statistics.recovery.truncatedBytes == 5000)
        #expect(try FileBytes.size(last) == bytes.count)
        #expect(try store.verify().isClean)
        #expect(store.count == 10)
    }
}
