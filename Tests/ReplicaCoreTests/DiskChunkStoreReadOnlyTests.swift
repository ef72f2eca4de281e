import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("DiskChunkStore: read-only open")
struct DiskChunkStoreReadOnlyTests {
    /// Every file of the store with its bytes, to prove nothing was written.
    static func contents(_ directory: String) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + name
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[name] = try FileBytes.read(path)
            }
        }
        return result
    }

    @Test("reads every chunk without the lock, learns nothing, refuses changes and writes no byte")
    func readOnly() throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(60)
        let writer = try fixture.open()
        for (fingerprint, bytes) in chunks { try writer.put(bytes, as: fingerprint) }
        try writer.close()
        let holder = try fixture.open()  // a writer holds the lock: a read-only open does not need it
        // A torn tail a writer would cut off: the read-only open skips it in memory and leaves it on disk.
        let last = try #require(try FileManager.default.contentsOfDirectory(atPath: fixture.directory + "/segments")
            .filter { $0.hasSuffix(".seg") }.sorted().last)
        let lastPath = fixture.directory + "/segments/" + last
        try FileBytes.write(try FileBytes.read(lastPath) + [1, 2, 3, 4, 5, 6, 7], lastPath)
        let before = try Self.contents(fixture.directory)

        let options = try DiskChunkStore.Options(capacity: nil, readOnly: true)
        let store = try DiskChunkStore(directory: fixture.directory, options: options)
        #expect(store.isReadOnly)
        #expect(store.count == chunks.count)
        for (fingerprint, bytes) in chunks { #expect(try store.get(fingerprint) == bytes) }
        let fresh = TestCorpus.random(5000, seed: 99)
        try fresh.withUnsafeBytes { try store.put($0, as: Fingerprinter().fingerprint(fresh)) }
        #expect(store.count == chunks.count)
        let refused = try #require(throws: ChunkStoreError.self) { try store.remove(chunks[0].0) }
        #expect(refused.code == .readOnly)
        #expect((try? store.compact()) == nil)
        try store.flush()
        try store.close()
        holder.simulateCrash()
        #expect(try Self.contents(fixture.directory) == before)
    }

    @Test("a read-only open of a missing or non-store directory fails and creates nothing")
    func missing() throws {
        let fixture = StoreFixture()
        let options = try DiskChunkStore.Options(capacity: nil, readOnly: true)
        let error = try #require(throws: ChunkStoreError.self) {
            try DiskChunkStore(directory: fixture.directory, options: options)
        }
        #expect(error.code == .notFound)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory))
    }
}
