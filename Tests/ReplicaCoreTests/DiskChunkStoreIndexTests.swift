import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("DiskChunkStore: the in-memory index")
struct DiskChunkStoreIndexTests {
    @Test("random inserts, moves and removals agree with a dictionary")
    func model() {
        var index = ChunkIndex()
        var model: [Fingerprint: UInt64] = [:]
        var generator = SplitMix64(seed: 5)
        var keys: [Fingerprint] = []
        for step in 0..<60_000 {
            let roll = generator.next() % 10
            if roll < 6 || keys.isEmpty {
                // Few distinct high bits in `low` collide in home slots, so long probe runs get exercised.
                let key = Fingerprint(high: generator.next(), low: generator.next() & 0xFFFF_0000_0000_0000)
                let location = RecordLocation(segment: 1 + generator.next() % 1000, offset: 48, recordSize: step)
                index.set(key, location)
                model[key] = location.packed
                keys.append(key)
            } else {
                let key = keys[Int(generator.next() % UInt64(keys.count))]
                if roll < 8 {
                    #expect(index.remove(key)?.packed == model.removeValue(forKey: key))
                } else {
                    #expect(index.location(of: key)?.packed == model[key])
                }
            }
        }
        #expect(index.count == model.count)
        var seen = 0
        index.forEach { key, location in
            seen += 1
            #expect(model[key] == location.packed)
        }
        #expect(seen == model.count)
    }

    @Test("locations pack and unpack")
    func packing() {
        let location = RecordLocation(
            segment: RecordLocation.maximumSegment, offset: RecordLocation.maximumOffset,
            recordSize: (16 << 20) + 48)
        #expect(location.segment == RecordLocation.maximumSegment)
        #expect(location.offset == RecordLocation.maximumOffset)
        #expect(location.readSize >= (16 << 20) + 48)
        #expect(!location.isReferenced && location.referenced.isReferenced)
        #expect(location.referenced.unreferenced == location)
    }

    @Test("the index costs at most 48 bytes of RAM per chunk at any size", arguments: [1000, 77_777, 400_000])
    func memory(count: Int) {
        var index = ChunkIndex()
        var generator = SplitMix64(seed: UInt64(count))
        for _ in 0..<count {
            index.set(
                Fingerprint(high: generator.next(), low: generator.next()),
                RecordLocation(segment: 1, offset: 48, recordSize: 100))
        }
        let perChunk = Double(index.memoryBytes) / Double(count)
        #expect(perChunk <= 48, "\(perChunk) bytes per chunk")
    }
}
