import Synchronization

/// A persistent, bounded, crash-safe chunk store in a directory: append-only segment files and an index.
///
/// Every record carries its fingerprint, its length, its codec and a checksum; every read is verified against the
/// fingerprint, and a chunk that fails is quarantined and reported missing, so the store never returns wrong bytes.
/// After a crash (even `kill -9` in the middle of a write, an eviction or a compaction) the next open truncates a
/// torn tail and brings a stale index up to date from the segments. Capacity is enforced by evicting whole
/// segments, oldest first, with a CLOCK second chance for chunks read or written again since they were stored.
/// The in-memory index takes 28 to 43 bytes per chunk. See `docs/STORE.md` for the layout, byte by byte.
///
/// One process at a time: opening takes an exclusive `flock` on `DIR/lock`. Within the process, any number of
/// threads may read while one writes: readers hold the index lock only to look a chunk up, and read the file
/// outside it; writers (put, remove, eviction, compaction) are serialised by a second lock.
public final class DiskChunkStore: ChunkStore {
    /// The store's directory.
    public let directory: String
    let segmentsDirectory: String
    let options: Options
    let segmentSize: Int
    let fingerprintKind: Fingerprinter.Kind
    let keyCheck: UInt32
    /// How new chunks are stored, from `store.meta`.
    let compression: CodecKind
    let state: Mutex<IndexState>
    let writer: Mutex<WriterState>
    let syncObserverSlot = Mutex<(@Sendable (Duration) -> Void)?>(nil)

    /// Called after each `fsync` of segment data with the time it took, on the thread that wrote (a metrics
    /// hook: keep it short). `nil` by default.
    public var syncObserver: (@Sendable (Duration) -> Void)? {
        get { syncObserverSlot.withLock { $0 } }
        set { syncObserverSlot.withLock { $0 = newValue } }
    }

    /// Opens the store in `directory`, creating it (and the directory) when missing and
    /// `options.createIfMissing` is set.
    ///
    /// - Throws: ``ChunkStoreError`` when the directory is not a store, another process holds it ("store DIR is in
    ///   use by pid N"), its fingerprinter differs from `options.fingerprinter`, or I/O fails.
    public init(directory: String, options: Options = Options()) throws(ChunkStoreError) {
        self.directory = directory
        self.segmentsDirectory = directory + "/" + StoreLayout.segmentsName
        self.options = options
        let started = StoreIO.milliseconds
        if !StoreIO.isDirectory(directory) {
            guard options.createIfMissing else { throw ChunkStoreError(.notFound, "store \(directory) does not exist") }
            try StoreIO.makeDirectory(directory)
        }
        let lock = options.readOnly ? StoreLock.unlocked : try StoreLock.acquire(directory: directory)
        var meta: StoreMeta
        if let existing = try Self.readMeta(directory: directory) {
            meta = existing
        } else if options.readOnly {
            throw ChunkStoreError(.notAStore, "\(directory) is not a Replica store")
        } else {
            meta = try Self.create(directory: directory, options: options)
        }
        guard meta.fingerprintKind == options.fingerprinter.kind, meta.keyCheck == options.fingerprinter.keyCheck
        else {
            throw ChunkStoreError(
                .unsupported,
                "store \(directory) was created with \(meta.fingerprintKind == .xxh3 ? "plain" : "keyed") fingerprints"
                    + (meta.fingerprintKind == .keyedXXH3 ? " (key check \(meta.keyCheck))" : "")
                    + "; open it with the same fingerprinter")
        }
        if let capacity = options.capacity, capacity != meta.capacity, !options.readOnly {
            meta.capacity = max(capacity, meta.segmentSize * 4)
            try StoreIO.writeAtomically(
                meta.encoded(), to: directory + "/" + StoreLayout.metaName, directory: directory)
        }
        self.segmentSize = meta.segmentSize
        self.fingerprintKind = meta.fingerprintKind
        self.keyCheck = meta.keyCheck
        self.compression = meta.compression
        var recovery = try Recovery(
            directory: directory, segmentsDirectory: segmentsDirectory, meta: meta, readOnly: options.readOnly)
        let recovered = try recovery.run()
        var report = recovery.report
        report.milliseconds = Int(StoreIO.milliseconds - started)
        state = Mutex(
            IndexState(
                index: recovered.index, segments: recovered.segments, order: recovered.segments.keys.sorted(),
                diskBytes: recovered.segments.values.reduce(0) { $0 + $1.length },
                storeID: meta.storeID, capacity: meta.capacity, recovery: report))
        writer = Mutex(
            WriterState(
                lock: lock, active: recovered.active, nextSegment: recovered.nextSegment,
                compressor: meta.compression == .lz4 ? LZ4Compressor(level: 1) : nil,
                lastSync: StoreIO.milliseconds))
        if options.readOnly { return }
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            try ensureRoom(for: 0, &writer)
            if recovery.needsSnapshot { try writeSnapshotIfPossible(&writer) }
        }
    }

    deinit { try? close() }

    // MARK: ChunkStore

    /// The store's identity, from `store.meta`; ``purge(newIdentity:)`` can renew it.
    public var storeID: StoreID { state.withLock { $0.storeID } }
    /// The most bytes of segment files the store keeps before it evicts.
    public var capacity: Int { state.withLock { $0.capacity } }
    /// Bytes of segment files on disk, dead records included: what ``capacity`` bounds.
    public var storedBytes: Int { state.withLock { $0.diskBytes } }
    /// Whether the store was opened read-only (``Options/readOnly``).
    public var isReadOnly: Bool { options.readOnly }
    /// The number of chunks held.
    public var count: Int { state.withLock { $0.index.count } }

    /// Whether the index holds the chunk (its bytes are checked only when read).
    public func contains(_ fingerprint: Fingerprint) -> Bool {
        state.withLock { $0.index.slot(of: fingerprint) != nil }
    }

    /// Reads a chunk, verifying it against its fingerprint; a chunk that fails is quarantined and reported missing.
    /// - Throws: ``ChunkStoreError`` on an I/O failure or a closed store.
    public func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? {
        let found = try state.withLock {
            (state: inout IndexState) throws(ChunkStoreError) -> (StoreFile, RecordLocation)? in
            guard !state.closed else { throw ChunkStoreError(.closed, "store \(directory) is closed") }
            guard let slot = state.index.slot(of: fingerprint) else {
                state.counters.misses += 1
                return nil
            }
            let location = state.index.location(atSlot: slot)
            guard let segment = state.segments[location.segment] else {
                // Not expected (draining a segment drops its entries first), but an entry without a segment is stale.
                state.index.remove(fingerprint)
                state.counters.misses += 1
                return nil
            }
            state.index.markReferenced(atSlot: slot)
            return (segment.file, location)
        }
        guard let (file, location) = found else { return nil }
        switch try readChunk(file, location, expecting: fingerprint) {
        case .success(let bytes):
            state.withLock { $0.counters.hits += 1 }
            return bytes
        case .failure(let problem):
            try quarantine(fingerprint, at: location, reason: problem.reason)
            state.withLock { $0.counters.misses += 1 }
            return nil
        }
    }

    /// Stores a chunk, or refreshes it for eviction when it is already held. Chunks larger than a quarter of the
    /// capacity are not stored.
    /// - Throws: ``ChunkStoreError`` on an I/O failure, a full disk (the store stays consistent and the chunk is
    ///   not stored) or a closed store. A read-only store learns nothing: the call does nothing.
    public func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        if options.readOnly { return }
        guard bytes.count <= ChunkerConfiguration.largestMaximumSize else {
            throw ChunkStoreError(.invalidArgument, "a chunk of \(bytes.count) bytes is above the largest chunk size")
        }
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            try checkOpen(writer)
            let held = state.withLock { state in
                guard let slot = state.index.slot(of: fingerprint) else { return false }
                state.index.markReferenced(atSlot: slot)
                state.counters.refreshes += 1
                return true
            }
            guard !held else { return }
            let record = encodeRecord(bytes, fingerprint, &writer)
            guard record.count <= capacity / 4 else { return }
            try ensureRoom(for: record.count, &writer)
            try appendChunk(record, fingerprint, rawLength: bytes.count, &writer)
            state.withLock { $0.counters.puts += 1 }
            try afterWrite(record.count, &writer)
        }
    }

    /// Drops a chunk, writing a tombstone so it stays dropped after a crash.
    /// - Throws: ``ChunkStoreError`` on an I/O failure, a closed store or a read-only one.
    public func remove(_ fingerprint: Fingerprint) throws(ChunkStoreError) {
        try checkWritable()
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            try checkOpen(writer)
            guard let location = state.withLock({ $0.index.location(of: fingerprint) }) else { return }
            try forget(fingerprint, at: location, &writer)
        }
    }

    // MARK: Lifecycle

    /// Forces every written record to disk.
    /// - Throws: ``ChunkStoreError`` when `fsync` fails or the store is closed.
    public func flush() throws(ChunkStoreError) {
        if options.readOnly { return }
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            try checkOpen(writer)
            try sync(&writer)
        }
    }

    /// Syncs, writes the index snapshot (unless the disk is full: the next open then scans instead) and releases
    /// the directory lock. Later calls do nothing; other methods throw.
    /// - Throws: ``ChunkStoreError`` when the final sync fails (the store stays recoverable).
    public func close() throws(ChunkStoreError) {
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) in
            guard writer.lock != nil else { return }
            defer {
                writer.lock = nil
                state.withLock { $0.closed = true }
            }
            if options.readOnly { return }
            try writeSnapshotIfPossible(&writer)
        }
    }

    /// The store's counters and sizes.
    public var statistics: Statistics {
        state.withLock { state in
            Statistics(
                storeID: state.storeID, directory: directory, capacity: state.capacity, segmentSize: segmentSize,
                chunks: state.index.count, chunkBytes: state.liveRawBytes, liveRecordBytes: state.liveBytes,
                diskBytes: state.diskBytes, segments: state.segments.count, indexMemoryBytes: state.index.memoryBytes,
                hits: state.counters.hits, misses: state.counters.misses, puts: state.counters.puts,
                refreshes: state.counters.refreshes, evictedSegments: state.counters.evictedSegments,
                evictedChunks: state.counters.evictedChunks, copiedForward: state.counters.copiedForward,
                quarantined: state.counters.quarantined, recovery: state.recovery)
        }
    }

    /// Refuses a change to a read-only store.
    func checkWritable() throws(ChunkStoreError) {
        guard !options.readOnly else {
            throw ChunkStoreError(.readOnly, "store \(directory) is open read-only")
        }
    }

    func checkOpen(_ writer: borrowing WriterState) throws(ChunkStoreError) {
        guard writer.lock != nil else { throw ChunkStoreError(.closed, "store \(directory) is closed") }
    }
}

/// The index and the segment table, guarded by ``DiskChunkStore/state``. Readers hold it only for lookups.
struct IndexState: ~Copyable {
    var index: ChunkIndex
    var segments: [UInt64: SegmentInfo]
    /// Segment numbers, oldest first.
    var order: [UInt64]
    /// The sum of the segments' lengths, kept up to date by every change to a length or to the table.
    var diskBytes: Int
    var storeID: StoreID
    var capacity: Int
    var recovery: DiskChunkStore.RecoveryReport
    var counters = Counters()
    var closed = false
    var liveBytes: Int { segments.values.reduce(0) { $0 + $1.liveBytes } }
    var liveRawBytes: Int { segments.values.reduce(0) { $0 + $1.liveRawBytes } }

    struct Counters {
        var hits = 0
        var misses = 0
        var puts = 0
        var refreshes = 0
        var evictedSegments = 0
        var evictedChunks = 0
        var copiedForward = 0
        var quarantined = 0
    }

    /// Adds a live record's sizes to its segment.
    mutating func count(_ location: RecordLocation, recordSize: Int, rawLength: Int) {
        segments[location.segment]?.add(recordSize: recordSize, rawLength: rawLength, sign: 1)
    }

    /// Takes a record that stopped being live off its segment's counters.
    mutating func uncount(_ location: RecordLocation, recordSize: Int, rawLength: Int) {
        segments[location.segment]?.add(recordSize: recordSize, rawLength: rawLength, sign: -1)
    }
}

/// One segment file and what of it is live.
struct SegmentInfo: Sendable {
    let file: StoreFile
    var length: Int
    var liveCount = 0
    var liveBytes = 0
    var liveRawBytes = 0
    /// Whether a scan found damage in it, which compaction cleans up.
    var damaged = false

    mutating func add(recordSize: Int, rawLength: Int, sign: Int) {
        liveCount = max(0, liveCount + sign)
        liveBytes = max(0, liveBytes + sign * recordSize)
        liveRawBytes = max(0, liveRawBytes + sign * rawLength)
    }
}

/// The writer's side: the active segment, the lock, the durability clock. Guarded by ``DiskChunkStore/writer``.
struct WriterState: ~Copyable {
    /// The directory lock; `nil` once the store is closed.
    var lock: StoreLock?
    var active: UInt64
    var nextSegment: UInt64
    var compressor: LZ4Compressor?
    var lastSync: UInt64
    var unsyncedBytes = 0
    var bytesSinceSnapshot = 0
    /// A test hook: when set, appends fail with `ENOSPC` once this many more bytes have been written.
    var simulatedFreeBytes: Int?
}
