#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The write path: records, segments, durability and snapshots. Every function here runs under the writer lock.
extension DiskChunkStore {
    /// Reads `store.meta`, or `nil` when the directory has none.
    static func readMeta(directory: String) throws(ChunkStoreError) -> StoreMeta? {
        let path = directory + "/" + StoreLayout.metaName
        guard StoreIO.exists(path) else { return nil }
        let file = try StoreFile.open(path, create: false)
        return try StoreMeta.decode(file.read(count: StoreMeta.size + 1, at: 0), path: path)
    }

    /// Creates a store's metadata in a directory that holds nothing else (a lock file and an empty `segments`
    /// left by an interrupted creation are fine).
    static func create(directory: String, options: Options) throws(ChunkStoreError) -> StoreMeta {
        let segments = directory + "/" + StoreLayout.segmentsName
        let leftovers = try StoreIO.list(directory).filter { name in
            name != StoreLayout.lockName && name != StoreLayout.metaName + ".tmp"
                && !(name == StoreLayout.segmentsName && ((try? StoreIO.list(segments)) ?? ["?"]).isEmpty)
        }
        guard leftovers.isEmpty else {
            throw ChunkStoreError(
                .notAStore,
                "\(directory) is not a Replica store: it has no \(StoreLayout.metaName) and is not empty")
        }
        guard options.createIfMissing else { throw ChunkStoreError(.notAStore, "\(directory) is not a Replica store") }
        let capacity = options.capacity ?? Options.defaultCapacity
        let segmentSize = min(options.segmentSize(forCapacity: capacity), Options.segmentSizeRange.upperBound)
        let meta = StoreMeta(
            storeID: .random(), capacity: max(capacity, segmentSize * 4), segmentSize: segmentSize,
            fingerprintKind: options.fingerprinter.kind, keyCheck: options.fingerprinter.keyCheck,
            compression: options.compression)
        try StoreIO.makeDirectory(segments)
        try StoreIO.writeAtomically(meta.encoded(), to: directory + "/" + StoreLayout.metaName, directory: directory)
        return meta
    }

    /// The metadata as it stands now.
    var meta: StoreMeta {
        state.withLock { state in
            StoreMeta(
                storeID: state.storeID, capacity: state.capacity, segmentSize: segmentSize,
                fingerprintKind: fingerprintKind, keyCheck: keyCheck, compression: compression)
        }
    }

    func segmentPath(_ number: UInt64) -> String { segmentsDirectory + "/" + StoreLayout.segmentName(number) }

    /// A chunk record: header, payload (LZ4-compressed when the store compresses and it pays), zero padding.
    func encodeRecord(
        _ bytes: UnsafeRawBufferPointer, _ fingerprint: Fingerprint, _ writer: inout WriterState
    ) -> [UInt8] {
        var codec = CodecKind.none
        var payload: [UInt8] = []
        if let compressor = writer.compressor, bytes.count >= 64 {
            var compressed = [UInt8](repeating: 0, count: LZ4Compressor.bound(bytes.count))
            let size = try? compressed.withUnsafeMutableBytes { target throws(CodecError) in
                try compressor.compress(bytes, into: target)
            }
            if let size, size < bytes.count {
                compressed.removeLast(compressed.count - size)
                payload = compressed
                codec = .lz4
            }
        }
        guard codec == .none else {
            let header = RecordHeader(
                kind: .chunk, codec: codec, rawLength: bytes.count, storedLength: payload.count,
                fingerprint: fingerprint, payloadChecksum: payload.withUnsafeBytes { XXHash.hash64($0) })
            return Self.record(header, payload)
        }
        // Raw: one allocation, the chunk copied once, straight behind the header.
        let header = RecordHeader(
            kind: .chunk, codec: .none, rawLength: bytes.count, storedLength: bytes.count, fingerprint: fingerprint,
            payloadChecksum: XXHash.hash64(bytes))
        var record = [UInt8](repeating: 0, count: header.recordSize)
        let encoded = header.encoded()
        record.withUnsafeMutableBytes { target in
            target.copyBytes(from: encoded)
            UnsafeMutableRawBufferPointer(rebasing: target[RecordHeader.size...]).copyMemory(from: bytes)
        }
        return record
    }

    /// A record's bytes: the encoded header, the payload and zero padding to the alignment.
    static func record(_ header: RecordHeader, _ payload: [UInt8]) -> [UInt8] {
        var record = header.encoded()
        record.reserveCapacity(header.recordSize)
        record += payload
        record += [UInt8](repeating: 0, count: header.recordSize - record.count)
        return record
    }

    /// A tombstone record for `fingerprint`.
    static func tombstone(_ fingerprint: Fingerprint) -> [UInt8] {
        let header = RecordHeader(
            kind: .tombstone, codec: .none, rawLength: 0, storedLength: 0, fingerprint: fingerprint,
            payloadChecksum: [UInt8]().withUnsafeBytes { XXHash.hash64($0) })
        return record(header, [])
    }

    /// Appends a record to the active segment (opening a new one when it is full) and returns where it went.
    /// The index is the caller's to update. A failed write is truncated away, so the segment stays whole.
    func append(_ record: [UInt8], _ writer: inout WriterState) throws(ChunkStoreError) -> RecordLocation {
        var length = state.withLock { $0.segments[writer.active]?.length ?? 0 }
        if length + record.count > segmentSize && length > SegmentHeader.size || length == 0 {
            try openNewSegment(&writer)
            length = SegmentHeader.size
        }
        guard let file = state.withLock({ $0.segments[writer.active]?.file }) else {
            throw ChunkStoreError(.damaged, "store \(directory) lost its active segment")
        }
        do throws(ChunkStoreError) {
            if let free = writer.simulatedFreeBytes {
                guard record.count <= free else {
                    try file.write(Array(record.prefix(free)), at: length)
                    throw StoreIO.error("pwrite", file.path, ENOSPC)
                }
                writer.simulatedFreeBytes = free - record.count
            }
            try file.write(record, at: length)
        } catch {
            try? file.truncate(to: length)
            throw error
        }
        let active = writer.active
        state.withLock { state in
            state.segments[active]?.length = length + record.count
            state.diskBytes += record.count
        }
        writer.bytesSinceSnapshot += record.count
        return RecordLocation(segment: active, offset: length, recordSize: record.count)
    }

    /// Appends a new chunk record and indexes it.
    func appendChunk(_ record: [UInt8], _ fingerprint: Fingerprint, rawLength: Int, _ writer: inout WriterState)
        throws(ChunkStoreError)
    {
        let location = try append(record, &writer)
        state.withLock { state in
            state.index.set(fingerprint, location)
            state.count(location, recordSize: record.count, rawLength: rawLength)
        }
    }

    /// Seals the active segment (synced) and starts the next one.
    func openNewSegment(_ writer: inout WriterState) throws(ChunkStoreError) {
        try sync(&writer)
        let number = writer.nextSegment
        guard number <= RecordLocation.maximumSegment else {
            throw ChunkStoreError(.exhausted, "store \(directory) has used all segment numbers; run `replica store purge`")
        }
        let path = segmentPath(number)
        try StoreIO.remove(path)
        let file = try StoreFile.open(path, create: true, exclusive: true)
        do throws(ChunkStoreError) {
            try file.write(SegmentHeader(storeID: storeID, number: number).encoded(), at: 0)
            try StoreIO.syncDirectory(segmentsDirectory)
        } catch {
            try? StoreIO.remove(path)
            throw error
        }
        state.withLock { state in
            state.segments[number] = SegmentInfo(file: file, length: SegmentHeader.size)
            state.diskBytes += SegmentHeader.size
            state.order.append(number)
        }
        writer.active = number
        writer.nextSegment = number + 1
    }

    /// Applies the durability policy after `count` bytes were written, and snapshots the index when due.
    func afterWrite(_ count: Int, _ writer: inout WriterState) throws(ChunkStoreError) {
        writer.unsyncedBytes += count
        let policy = options.durability
        if let bytes = policy.syncAfterBytes, writer.unsyncedBytes >= bytes {
            try sync(&writer)
        } else if let milliseconds = policy.syncAfterMilliseconds,
            StoreIO.milliseconds - writer.lastSync >= UInt64(milliseconds)
        {
            try sync(&writer)
        }
        if writer.bytesSinceSnapshot >= options.snapshotInterval { try writeSnapshotIfPossible(&writer) }
    }

    /// Syncs the active segment (sealed segments were synced when sealed).
    func sync(_ writer: inout WriterState) throws(ChunkStoreError) {
        guard writer.unsyncedBytes > 0 else { return }
        if let file = state.withLock({ $0.segments[writer.active]?.file }) {
            let started = ContinuousClock.now
            try file.sync()
            syncObserver?(ContinuousClock.now - started)
        }
        writer.unsyncedBytes = 0
        writer.lastSync = StoreIO.milliseconds
    }

    /// Writes the index snapshot, after syncing, so it never describes bytes that are not on disk.
    func writeSnapshot(_ writer: inout WriterState) throws(ChunkStoreError) {
        writer.unsyncedBytes = max(writer.unsyncedBytes, 1)
        try sync(&writer)
        let (index, rows, storeID) = state.withLock { state in
            let rows = state.order.compactMap { number in
                state.segments[number].map { segment in
                    IndexSnapshot.Row(
                        number: number, length: segment.length, liveCount: segment.liveCount,
                        liveBytes: segment.liveBytes, liveRawBytes: segment.liveRawBytes, damaged: segment.damaged)
                }
            }
            return (state.index, rows, state.storeID)
        }
        let bytes = IndexSnapshot.encode(storeID: storeID, index: index, rows: rows, nextSegment: writer.nextSegment)
        try StoreIO.writeAtomically(bytes, to: directory + "/" + StoreLayout.indexName, directory: directory)
        writer.bytesSinceSnapshot = 0
    }

    /// Writes the snapshot when the disk lets it. The snapshot only saves scanning at the next open, so a full
    /// disk must not stop writes, opens or closes for its sake; a failed sync still throws.
    func writeSnapshotIfPossible(_ writer: inout WriterState) throws(ChunkStoreError) {
        writer.unsyncedBytes = max(writer.unsyncedBytes, 1)
        try sync(&writer)
        do {
            try writeSnapshot(&writer)
        } catch {
            writer.bytesSinceSnapshot = 0
        }
    }

    /// The record size and chunk length of the record at `location`, read from its header; zeros when unreadable.
    func recordSizes(at location: RecordLocation) -> (recordSize: Int, rawLength: Int) {
        guard let file = state.withLock({ $0.segments[location.segment]?.file }),
            let bytes = try? file.read(count: RecordHeader.size, at: location.offset),
            let header = RecordHeader.decode(bytes, at: 0)
        else { return (0, 0) }
        return (header.recordSize, header.rawLength)
    }

    /// Drops a live chunk: writes its tombstone, then takes it out of the index.
    func forget(_ fingerprint: Fingerprint, at location: RecordLocation, _ writer: inout WriterState)
        throws(ChunkStoreError)
    {
        let sizes = recordSizes(at: location)
        let tombstone = Self.tombstone(fingerprint)
        _ = try append(tombstone, &writer)
        state.withLock { state in
            state.index.remove(fingerprint)
            state.uncount(location, recordSize: sizes.recordSize, rawLength: sizes.rawLength)
        }
        try afterWrite(tombstone.count, &writer)
    }

    /// Quarantines a chunk found damaged at `location`: out of the index (so it reads as missing), a tombstone (so
    /// it stays out after a restart), and a line in `DIR/quarantine.log`. Does nothing if the chunk has moved.
    func quarantine(_ fingerprint: Fingerprint, at location: RecordLocation, reason: String) throws(ChunkStoreError) {
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            guard writer.lock != nil else { return }
            quarantineLocked(fingerprint, at: location, reason: reason, &writer)
        }
    }

    /// ``quarantine(_:at:reason:)`` for callers that hold the writer lock.
    func quarantineLocked(
        _ fingerprint: Fingerprint, at location: RecordLocation, reason: String, _ writer: inout WriterState
    ) {
        if options.readOnly { return }
        guard let current = state.withLock({ $0.index.location(of: fingerprint) }),
            current.unreferenced == location.unreferenced
        else { return }
        do {
            try forget(fingerprint, at: location, &writer)
        } catch {
            // The tombstone could not be written (a full disk): drop the chunk from the index all the same; a
            // restart finds it damaged again.
            _ = state.withLock { $0.index.remove(fingerprint) }
        }
        state.withLock { state in
            state.counters.quarantined += 1
            state.segments[location.segment]?.damaged = true
        }
        let line = "\(fingerprint) segment \(location.segment) offset \(location.offset): \(reason)\n"
        if let log = try? StoreFile.open(directory + "/" + StoreLayout.quarantineName, create: true),
            let end = try? log.size()
        {
            try? log.write(Array(line.utf8), at: end)
        }
    }

    /// Reads the chunk at `location` and checks it all the way: header, checksum, codec and fingerprint.
    func readChunk(_ file: StoreFile, _ location: RecordLocation, expecting fingerprint: Fingerprint)
        throws(ChunkStoreError) -> Result<[UInt8], StoreProblem>
    {
        var bytes = try file.read(count: max(location.readSize, RecordHeader.size), at: location.offset)
        guard let header = RecordHeader.decode(bytes, at: 0) else {
            return .failure(StoreProblem("unreadable record header"))
        }
        guard header.kind == .chunk, header.fingerprint == fingerprint else {
            return .failure(StoreProblem("the record there is of another fingerprint"))
        }
        let end = RecordHeader.size + header.storedLength
        if bytes.count < end {
            bytes += try file.read(count: end - bytes.count, at: location.offset + bytes.count)
        }
        guard bytes.count >= end else { return .failure(StoreProblem("the record is cut short")) }
        return Self.decodePayload(header, Array(bytes[RecordHeader.size..<end]), options.fingerprinter)
    }

    /// Checks a payload against its header and the fingerprint, and undoes the store's compression.
    static func decodePayload(_ header: RecordHeader, _ payload: [UInt8], _ fingerprinter: Fingerprinter)
        -> Result<[UInt8], StoreProblem>
    {
        guard payload.withUnsafeBytes({ XXHash.hash64($0) }) == header.payloadChecksum else {
            return .failure(StoreProblem("payload checksum mismatch"))
        }
        var chunk = payload
        if header.codec == .lz4 {
            chunk = [UInt8](repeating: 0, count: header.rawLength)
            let written = try? payload.withUnsafeBytes { source in
                try chunk.withUnsafeMutableBytes { target in
                    try LZ4Decompressor.decompress(source, into: target)
                }
            }
            guard written == header.rawLength else { return .failure(StoreProblem("undecodable lz4 payload")) }
        }
        guard fingerprinter.fingerprint(chunk) == header.fingerprint else {
            return .failure(StoreProblem("the bytes do not match their fingerprint"))
        }
        return .success(chunk)
    }
}
