import Foundation
import ReplicaCore

/// Rewrites a `DiskChunkStore` index snapshot (`DIR/index`, layout in `docs/STORE.md`) with its checksums
/// recomputed, so a test reaches the row validation rather than the checksum.
package enum IndexSnapshotEditor {
    /// A row's 8-byte fields, in file order.
    package enum Field: Int {
        case number = 0, length, liveCount, liveBytes, liveRawBytes, flags
    }

    /// How many rows the snapshot at `path` has.
    package static func rowCount(_ path: String) throws -> Int {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return Int(read(bytes, at: 40))
    }

    /// Calls `edit` with a row field accessor, then writes the snapshot back with valid checks.
    package static func edit(_ path: String, _ edit: (_ get: (Int, Field) -> UInt64, _ set: (Int, Field, UInt64) -> Void) -> Void)
        throws
    {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func offset(_ row: Int, _ field: Field) -> Int { 64 + row * 48 + field.rawValue * 8 }
        edit({ row, field in read(bytes, at: offset(row, field)) }, { row, field, value in
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset(row, field)..<(offset(row, field) + 8), with: $0) }
        })
        let header = bytes.withUnsafeBytes { XXHash.hash64(UnsafeRawBufferPointer(rebasing: $0[0..<56])) }
        withUnsafeBytes(of: header.littleEndian) { bytes.replaceSubrange(56..<64, with: $0) }
        let end = bytes.count - 8
        let body = bytes.withUnsafeBytes { XXHash.hash64(UnsafeRawBufferPointer(rebasing: $0[64..<end])) }
        withUnsafeBytes(of: body.littleEndian) { bytes.replaceSubrange(end..<(end + 8), with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    private static func read(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<(offset + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
