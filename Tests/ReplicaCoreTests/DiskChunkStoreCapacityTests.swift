import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("DiskChunkStore: capacity, eviction and a full disk")
struct DiskChunkStoreCapacityTests {
    @Test("eviction keeps the store within capacity and recently used chunks survive")
    func eviction() throws {
        let fixture = StoreFixture()
        let store = try fixture.open(capacity: 2 << 20, segmentSize: 128 << 10)
        let hot = StoreFixture.chunks(10, seed: 31)
        for (fingerprint, bytes) in hot { try store.put(bytes, as: fingerprint) }
        let cold = StoreFixture.chunks(1500, seed: 32)
        for (index, (fingerprint, bytes)) in cold.enumerated() {
            try store.put(bytes, as: fingerprint)
            #expect(store.storedBytes <= store.capacity)
            if index % 20 == 0 {
                for (fingerprint, bytes) in hot { #expect(try store.get(fingerprint) == bytes) }
            }
        }
        let statistics = store.statistics
        #expect(statistics.evictedSegments > 10)
        #expect(statistics.copiedForward > 0)
        for (fingerprint, bytes) in hot { #expect(try store.get(fingerprint) == bytes) }
        #expect(try store.get(cold[0].0) == nil)
        #expect(try store.get(cold.last!.0) == cold.last!.1)
        #expect(try store.verify().isClean)
        try store.close()
        let reopened = try fixture.open(capacity: nil)
        #expect(reopened.count == statistics.chunks)
        #expect(reopened.storedBytes <= reopened.capacity)
    }

    @Test("lowering the capacity evicts at once")
    func shrink() throws {
        let fixture = StoreFixture()
        let store = try fixture.open(capacity: 8 << 20, segmentSize: 128 << 10)
        for (fingerprint, bytes) in StoreFixture.chunks(600, seed: 33) { try store.put(bytes, as: fingerprint) }
        try store.setCapacity(1 << 20)
        #expect(store.storedBytes <= 1 << 20)
        #expect(try store.verify().isClean)
    }

    @Test("ENOSPC gives a clear error and leaves the store consistent")
    func diskFull() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(40, seed: 34)
        let store = try fixture.open()
        for (fingerprint, bytes) in chunks.prefix(20) { try store.put(bytes, as: fingerprint) }
        store.simulateFreeSpace(20_000)
        var failure: ChunkStoreError?
        for (fingerprint, bytes) in chunks.dropFirst(20) {
            do { try store.put(bytes, as: fingerprint) } catch let error as ChunkStoreError {
                failure = error
                #expect(!store.contains(fingerprint))
                break
            }
        }
        let error = try #require(failure)
        #expect(error.message.contains("disk full (ENOSPC)"))
        #expect(try store.verify().isClean)
        store.simulateFreeSpace(nil)
        for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
        store.simulateCrash()
        let reopened = try fixture.open()
        #expect(reopened.statistics.recovery.truncatedBytes == 0)
        for (fingerprint, bytes) in chunks { #expect(try reopened.get(fingerprint) == bytes) }
    }
}
