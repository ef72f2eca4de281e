import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("DiskChunkStore: damaged segment and index files")
struct DiskChunkStoreCorruptionTests {
    /// Fills a store, closes it, and returns the chunks and the first segment's path.
    static func filled(_ fixture: StoreFixture, count: Int = 40) throws -> ([(Fingerprint, [UInt8])], String) {
        let chunks = StoreFixture.chunks(count, seed: 21)
        let store = try fixture.open()
        for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
        let path = try #require(store.segmentPaths.first)
        try store.close()
        return (chunks, path)
    }

    @Test(
        "flipped bytes in segments are never returned; verify reports them; compact cleans up",
        arguments: [100, 2000, 30_000, 60_000, 90_000])
    func segmentFlip(offset: Int) throws {
        let fixture = StoreFixture()
        let (chunks, path) = try Self.filled(fixture)
        var bytes = try FileBytes.read(path)
        try #require(offset < bytes.count)
        bytes[offset] ^= 0x5A
        try FileBytes.write(bytes, path)
        let store = try fixture.open()
        var missing = 0
        for (fingerprint, expected) in chunks {
            let read = try store.get(fingerprint)
            #expect(read == nil || read == expected)
            if read == nil { missing += 1 }
        }
        #expect(missing <= 2)
        let report = try store.verify()
        #expect(!report.isClean)
        #expect(!report.damaged.isEmpty)
        try store.compact()
        #expect(try store.verify().isClean)
        for (fingerprint, expected) in chunks {
            let read = try store.get(fingerprint)
            #expect(read == nil || read == expected)
        }
    }

    @Test("a chunk damaged while the store is open reads as missing and is quarantined")
    func quarantineOnRead() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(5, seed: 22)
        let store = try fixture.open()
        for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
        let path = try #require(store.segmentPaths.first)
        var bytes = try FileBytes.read(path)
        bytes[48 + 48 + 10] ^= 1
        try FileBytes.write(bytes, path)
        #expect(try store.get(chunks[0].0) == nil)
        #expect(!store.contains(chunks[0].0))
        #expect(store.statistics.quarantined == 1)
        let log = try String(contentsOfFile: fixture.directory + "/quarantine.log", encoding: .utf8)
        #expect(log.contains(chunks[0].0.description))
        try store.close()
        let reopened = try fixture.open()
        #expect(!reopened.contains(chunks[0].0))
        #expect(try reopened.get(chunks[1].0) == chunks[1].1)
    }

    @Test("a damaged index snapshot is set aside and the index rebuilt", arguments: [3, 20, 64, 100, -3])
    func indexFlip(offset: Int) throws {
        let fixture = StoreFixture()
        let (chunks, _) = try Self.filled(fixture)
        let path = fixture.directory + "/index"
        var bytes = try FileBytes.read(path)
        let at = offset < 0 ? bytes.count + offset : offset
        bytes[at] ^= 0x80
        try FileBytes.write(bytes, path)
        let store = try fixture.open()
        #expect(!store.statistics.recovery.usedSnapshot)
        #expect(store.statistics.recovery.rebuildReason != nil)
        for (fingerprint, expected) in chunks { #expect(try store.get(fingerprint) == expected) }
        #expect(try store.verify().isClean)
    }

    @Test("a damaged store.meta is refused with a clear error")
    func metaFlip() throws {
        let fixture = StoreFixture()
        _ = try Self.filled(fixture, count: 2)
        let path = fixture.directory + "/store.meta"
        var bytes = try FileBytes.read(path)
        bytes[30] ^= 1
        try FileBytes.write(bytes, path)
        #expect {
            _ = try fixture.open()
        } throws: { error in
            "\(error)".contains("store.meta is damaged")
        }
    }
}
