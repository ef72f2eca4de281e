import Synchronization

/// Eviction, compaction, garbage collection and purge: the operations that remove segment files.
///
/// A segment is emptied record by record, each under a short hold of the index lock, so readers wait at most
/// for one index update. A record that must survive is first copied to the active segment (and the copies
/// synced) and only then is the old segment unlinked; a crash in between leaves two copies of a record, and
/// recovery keeps the later one. Readers that looked a chunk up in a segment being removed still hold its file
/// open, so they read it whole.
extension DiskChunkStore {
    /// What survives when a segment is drained.
    enum DrainMode {
        /// Capacity eviction: CLOCK's second chance. Chunks used since they were stored or last copied
        /// (referenced bit set) are copied forward with the bit cleared; the rest are dropped, and so are
        /// tombstones (nothing older remains for them to cancel). A chunk not used again before its segment
        /// comes round once more is evicted then, so eviction always makes progress within one pass.
        case evict
        /// Compaction: every live chunk is copied forward, and every tombstone whose chunk is not live again.
        case compact
    }

    /// Evicts oldest segments until `needed` more bytes fit in the capacity, with room to copy a segment forward.
    func ensureRoom(for needed: Int, _ writer: inout WriterState) throws(ChunkStoreError) {
        while true {
            let (disk, capacity, oldest, activeLength) = state.withLock { state in
                (state.diskBytes, state.capacity, state.order.first, state.segments[writer.active]?.length ?? 0)
            }
            guard disk + needed + segmentSize > capacity, let oldest else { return }
            if oldest == writer.active {
                guard activeLength > SegmentHeader.size else { return }
                try openNewSegment(&writer)
                continue
            }
            try drain(oldest, mode: .evict, &writer)
        }
    }

    /// Copies what must survive out of segment `number`, then removes it.
    /// - Returns: the records copied and their bytes.
    @discardableResult
    func drain(_ number: UInt64, mode: DrainMode, _ writer: inout WriterState) throws(ChunkStoreError)
        -> (records: Int, bytes: Int)
    {
        guard let segment = state.withLock({ $0.segments[number] }) else { return (0, 0) }
        if number == writer.active { try openNewSegment(&writer) }
        let isOldest = state.withLock { $0.order.first == number }
        var scanner = SegmentScanner(file: segment.file, from: SegmentHeader.size, to: segment.length)
        var copied = (records: 0, bytes: 0)
        var sawDamage = false
        while let item = try scanner.next() {
            guard case .record(let offset, let header, let payload) = item else {
                sawDamage = true
                continue
            }
            let fingerprint = header.fingerprint
            let current = state.withLock { $0.index.location(of: fingerprint) }
            if header.kind == .tombstone {
                guard mode == .compact, current == nil, !isOldest else { continue }
                _ = try append(Self.tombstone(fingerprint), &writer)
                copied.records += 1
                copied.bytes += RecordHeader.size
                continue
            }
            let here = RecordLocation(segment: number, offset: offset, recordSize: header.recordSize)
            guard let current, current.unreferenced == here.unreferenced else { continue }
            let keep = mode == .compact || current.isReferenced
            if keep {
                let moved = try append(Self.record(header, payload), &writer)
                state.withLock { state in
                    state.index.set(fingerprint, moved)
                    state.uncount(here, recordSize: header.recordSize, rawLength: header.rawLength)
                    state.count(moved, recordSize: header.recordSize, rawLength: header.rawLength)
                    if mode == .evict { state.counters.copiedForward += 1 }
                }
                copied.records += 1
                copied.bytes += header.recordSize
            } else {
                state.withLock { state in
                    state.index.remove(fingerprint)
                    state.counters.evictedChunks += 1
                }
            }
        }
        if sawDamage { dropEntries(inSegment: number) }
        writer.unsyncedBytes += copied.bytes
        try sync(&writer)
        state.withLock { state in
            state.diskBytes -= state.segments.removeValue(forKey: number)?.length ?? 0
            state.order.removeAll { $0 == number }
            if mode == .evict { state.counters.evictedSegments += 1 }
        }
        try StoreIO.remove(segmentPath(number))
        return copied
    }

    /// Removes index entries that still point into a segment about to go (records a scan could not read).
    func dropEntries(inSegment number: UInt64) {
        state.withLock { state in
            var doomed: [Fingerprint] = []
            state.index.forEach { fingerprint, location in
                if location.segment == number { doomed.append(fingerprint) }
            }
            for fingerprint in doomed { state.index.remove(fingerprint) }
        }
    }

    /// Rewrites sealed segments whose live records fill at most `liveRatio` of them, and damaged ones, then
    /// snapshots the index. Readers are never blocked for more than one index update.
    ///
    /// The copies go to the active segment before the old segments are removed, so disk use can pass the capacity
    /// by up to the live bytes of one segment while a segment is rewritten.
    /// - Throws: ``ChunkStoreError`` on an I/O failure or a full disk; what was done so far stays consistent.
    @discardableResult
    public func compact(liveRatio: Double = 0.5) throws(ChunkStoreError) -> CompactionReport {
        try checkWritable()
        return try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) -> CompactionReport in
            try checkOpen(writer)
            let active = writer.active
            let candidates = state.withLock { state in
                state.order.filter { number in
                    guard let segment = state.segments[number] else { return false }
                    if segment.damaged { return true }
                    let payload = Double(max(1, segment.length - SegmentHeader.size))
                    return number != active && segment.length > SegmentHeader.size
                        && Double(segment.liveBytes) <= liveRatio * payload
                }
            }
            var report = CompactionReport()
            for number in candidates {
                let before = state.withLock { $0.segments[number]?.length ?? 0 }
                let copied = try drain(number, mode: .compact, &writer)
                report.segmentsRemoved += 1
                report.recordsCopied += copied.records
                report.bytesReclaimed += before - copied.bytes
            }
            try writeSnapshot(&writer)
            return report
        }
    }

    /// Removes segments that hold no live chunk (and damaged ones), and leftover temporary files.
    /// - Throws: ``ChunkStoreError`` on an I/O failure.
    @discardableResult
    public func collectGarbage() throws(ChunkStoreError) -> CompactionReport {
        try checkWritable()
        let report = try compact(liveRatio: 0)
        for name in try StoreIO.list(segmentsDirectory) where name.hasSuffix(".tmp") {
            try StoreIO.remove(segmentsDirectory + "/" + name)
        }
        return report
    }

    /// Drops every chunk. The store keeps its identity unless `newIdentity` is set, in which case it gets a new
    /// random one (streams encoded against the old identity then refuse to decode against it).
    /// - Throws: ``ChunkStoreError`` on an I/O failure; a crash part-way leaves a consistent subset.
    public func purge(newIdentity: Bool = false) throws(ChunkStoreError) {
        try checkWritable()
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            try checkOpen(writer)
            try StoreIO.remove(directory + "/" + StoreLayout.indexName)
            let numbers = state.withLock { state in
                let numbers = state.order
                state.index = ChunkIndex()
                state.segments = [:]
                state.diskBytes = 0
                state.order = []
                return numbers
            }
            for number in numbers { try StoreIO.remove(segmentPath(number)) }
            writer.unsyncedBytes = 0
            if newIdentity {
                let identity = StoreID.random()
                var meta = self.meta
                meta.storeID = identity
                try StoreIO.writeAtomically(
                    meta.encoded(), to: directory + "/" + StoreLayout.metaName, directory: directory)
                state.withLock { $0.storeID = identity }
            }
            try openNewSegment(&writer)
            try writeSnapshot(&writer)
        }
    }

    /// Changes the capacity, evicting at once if the store holds more, and records it in `store.meta`.
    /// - Throws: ``ChunkStoreError`` below four segments' worth or on an I/O failure.
    public func setCapacity(_ capacity: Int) throws(ChunkStoreError) {
        guard capacity >= segmentSize * 4 else {
            throw ChunkStoreError(.invalidArgument, "a capacity of \(capacity) bytes is below four segments (\(segmentSize * 4) bytes)")
        }
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            try checkOpen(writer)
            state.withLock { $0.capacity = capacity }
            try StoreIO.writeAtomically(
                meta.encoded(), to: directory + "/" + StoreLayout.metaName, directory: directory)
            try ensureRoom(for: 0, &writer)
        }
    }
}
