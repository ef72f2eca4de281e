import ReplicaCore
import ReplicaTestSupport
import Testing

/// `successor(of:)`: the order in which stores received their chunks, which edited-chunk prefixes follow.
@Suite("Chunk order in stores")
struct ChunkOrderTests {
    static func checkOrder(_ store: any ChunkStore, _ chunks: [(Fingerprint, [UInt8])]) throws {
        for (fingerprint, bytes) in chunks { try bytes.withUnsafeBytes { try store.put($0, as: fingerprint) } }
        // Storing a held chunk again does not move it.
        try chunks[0].1.withUnsafeBytes { try store.put($0, as: chunks[0].0) }
        for (current, next) in zip(chunks, chunks.dropFirst()) {
            #expect(store.successor(of: current.0) == next.0)
        }
        #expect(store.successor(of: chunks[chunks.count - 1].0) == nil)
        #expect(store.successor(of: Fingerprint(high: 1, low: 2)) == nil)
    }

    @Test("the memory store remembers insertion order")
    func memoryStore() throws {
        try Self.checkOrder(MemoryChunkStore(capacity: 1 << 20), StoreFixture.chunks(12))
    }

    @Test("the disk store answers from segment order, across tombstones", arguments: [CodecKind.none, .lz4])
    func diskStore(compression: CodecKind) throws {
        let fixture = StoreFixture()
        let store = try fixture.open(compression: compression)
        let chunks = StoreFixture.chunks(12, text: compression == .lz4)
        try Self.checkOrder(store, chunks)
        try store.remove(chunks[5].0)
        #expect(store.successor(of: chunks[4].0) == chunks[5].0 || store.successor(of: chunks[4].0) == chunks[6].0)
        #expect(store.successor(of: chunks[5].0) == nil)
    }
}
