import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// Index snapshots with valid checksums but rows no writer produces: the store must rebuild from its segments,
/// never trap, and stay openable.
@Suite("DiskChunkStore: invalid index rows")
struct DiskChunkStoreIndexValidationTests {
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case rowsOutOfOrder, negativeLiveCount, negativeLength, zeroSegmentNumber

        var testDescription: String { rawValue }

        func apply(get: (Int, IndexSnapshotEditor.Field) -> UInt64, set: (Int, IndexSnapshotEditor.Field, UInt64) -> Void) {
            switch self {
            case .rowsOutOfOrder:
                let first = get(0, .number)
                set(0, .number, get(1, .number))
                set(1, .number, first)
            case .negativeLiveCount: set(0, .liveCount, UInt64(bitPattern: -5))
            case .negativeLength: set(1, .length, UInt64(bitPattern: -1))
            case .zeroSegmentNumber: set(0, .number, 0)
            }
        }
    }

    @Test("a crafted index is refused and the store rebuilt; it reopens and serves every chunk", arguments: Damage.allCases)
    func rebuildsFromSegments(damage: Damage) throws {
        let fixture = StoreFixture()
        let chunks = StoreFixture.chunks(80)
        do {
            let store = try fixture.open()
            for (fingerprint, bytes) in chunks { try store.put(bytes, as: fingerprint) }
            try store.close()
            #expect(try IndexSnapshotEditor.rowCount(store.indexPath) >= 2)
            try IndexSnapshotEditor.edit(store.indexPath) { get, set in damage.apply(get: get, set: set) }
        }
        for round in 0..<2 {
            let store = try fixture.open()
            let recovery = store.statistics.recovery
            if round == 0 {
                #expect(!recovery.usedSnapshot)
                #expect(recovery.rebuildReason?.contains("invalid") == true)
            } else {
                #expect(recovery.usedSnapshot)
            }
            #expect(store.count == chunks.count)
            for (fingerprint, bytes) in chunks { #expect(try store.get(fingerprint) == bytes) }
            try store.close()
        }
    }
}
