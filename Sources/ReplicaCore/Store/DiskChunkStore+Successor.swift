import Synchronization

extension DiskChunkStore {
    /// The chunk whose record follows this chunk's in its segment: segments are append-only, so that is the
    /// chunk stored right after it (tombstones skipped). One read of this record plus the next header.
    ///
    /// The encoder follows this order to find the stored chunk that an edited chunk replaces (see
    /// ``ChunkReading/successor(of:)``). Any failure to read simply answers `nil`.
    public func successor(of fingerprint: Fingerprint) -> Fingerprint? {
        let found = state.withLock { (state: inout IndexState) -> (StoreFile, RecordLocation)? in
            guard !state.closed, let slot = state.index.slot(of: fingerprint) else { return nil }
            let location = state.index.location(atSlot: slot)
            guard let segment = state.segments[location.segment] else { return nil }
            return (segment.file, location)
        }
        guard let (file, location) = found,
            let bytes = try? file.read(count: location.readSize + RecordHeader.size, at: location.offset),
            let header = RecordHeader.decode(bytes, at: 0), header.fingerprint == fingerprint
        else { return nil }
        var offset = header.recordSize
        var window = bytes
        var windowStart = 0
        for _ in 0..<8 {
            if offset - windowStart + RecordHeader.size > window.count {
                guard let more = try? file.read(count: RecordHeader.size, at: location.offset + offset) else { return nil }
                window = more
                windowStart = offset
            }
            guard let next = RecordHeader.decode(window, at: offset - windowStart) else { return nil }
            if next.kind == .chunk { return next.fingerprint }
            offset += next.recordSize
        }
        return nil
    }
}
