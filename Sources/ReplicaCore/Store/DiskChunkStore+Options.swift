extension DiskChunkStore {
    /// When written records are forced to disk with `fsync`.
    ///
    /// A record is *durable* once it has been synced. After a crash of the process (`kill -9`), every written
    /// record survives, synced or not, because the kernel holds it; after a crash of the machine, records written
    /// since the last sync may be lost, and the next open truncates them away. Closing the store always syncs.
    public struct Durability: Sendable, Hashable {
        /// Sync once this many bytes have been written since the last sync (0: after every write; `nil`: never
        /// for this reason).
        public let syncAfterBytes: Int?
        /// Sync at the first write that comes this many milliseconds after the last sync (`nil`: never for this
        /// reason). Checked on writes: an idle store does not sync until its next write, `flush()` or `close()`.
        public let syncAfterMilliseconds: Int?

        /// Creates a checked policy.
        ///
        /// - Parameters:
        ///   - syncAfterBytes: bytes written between syncs, 0 or more (0: after every write); `nil`: never for
        ///     this reason.
        ///   - syncAfterMilliseconds: milliseconds between syncs, 0 or more; `nil`: never for this reason.
        /// - Throws: ``ConfigurationError`` with code `negativeSyncBytes` or `negativeSyncInterval` for a negative
        ///   value (a typo such as `-1` for "never" is refused, not read as "after every write").
        public init(syncAfterBytes: Int?, syncAfterMilliseconds: Int?) throws(ConfigurationError) {
            if let syncAfterBytes, syncAfterBytes < 0 {
                throw ConfigurationError(
                    .negativeSyncBytes, setting: "syncAfterBytes",
                    message: "\(syncAfterBytes) is negative; use nil for never")
            }
            if let syncAfterMilliseconds, syncAfterMilliseconds < 0 {
                throw ConfigurationError(
                    .negativeSyncInterval, setting: "syncAfterMilliseconds",
                    message: "\(syncAfterMilliseconds) is negative; use nil for never")
            }
            self.init(checkedBytes: syncAfterBytes, checkedMilliseconds: syncAfterMilliseconds)
        }

        private init(checkedBytes: Int?, checkedMilliseconds: Int?) {
            syncAfterBytes = checkedBytes
            syncAfterMilliseconds = checkedMilliseconds
        }

        /// Sync after every write: slowest, loses nothing acknowledged even on power loss.
        public static let everyWrite = Durability(checkedBytes: 0, checkedMilliseconds: nil)
        /// The default: sync every 8 MiB or every second of writing, whichever comes first.
        public static let `default` = Durability(checkedBytes: 8 << 20, checkedMilliseconds: 1000)
        /// Sync only on `flush()`, snapshots and `close()`.
        public static let onClose = Durability(checkedBytes: nil, checkedMilliseconds: nil)
    }

    /// How a store is opened or created.
    public struct Options: Sendable {
        /// The accepted segment sizes: 64 KiB to 128 MiB.
        public static let segmentSizeRange = (64 << 10)...(128 << 20)
        /// The smallest capacity: 1 MiB.
        public static let minimumCapacity = 1 << 20
        /// The capacity of a store created without one: 50 GiB.
        public static let defaultCapacity = 50 << 30

        /// The capacity in bytes of segment files; `nil` keeps the store's (or uses the default when creating).
        public let capacity: Int?
        /// The segment size when creating; `nil` picks capacity / 16 within 1...64 MiB. Ignored when opening.
        public let segmentSize: Int?
        /// When records are synced.
        public let durability: Durability
        /// How new chunks are stored when creating a store: `.none` or `.lz4` (kept only for chunks it shrinks).
        /// Recorded in `store.meta`; an existing store keeps its own setting.
        public let compression: CodecKind
        /// The fingerprinter reads are verified with; it must match the store's (plain or the same key).
        public let fingerprinter: Fingerprinter
        /// Bytes written between index snapshots: a crash costs at most a scan of this much on the next open.
        public let snapshotInterval: Int
        /// Whether opening a missing or empty directory creates a store there.
        public let createIfMissing: Bool
        /// Whether the store is opened read-only: no lock is taken, nothing is written (no repair, no snapshot,
        /// no quarantine log), ``DiskChunkStore/put(_:as:)`` learns nothing, and ``DiskChunkStore/remove(_:)``,
        /// compaction, garbage collection and purging throw `readOnly`. Torn tails are skipped in memory. A
        /// store that another process writes meanwhile may read as missing chunks, never as wrong bytes.
        public let readOnly: Bool

        /// The default options: create when missing with a 50 GiB capacity, keep an existing store's capacity,
        /// the default durability, no compression, plain fingerprints.
        public init() {
            capacity = nil
            segmentSize = nil
            durability = .default
            compression = .none
            fingerprinter = Fingerprinter()
            snapshotInterval = 256 << 20
            createIfMissing = true
            readOnly = false
        }

        /// Creates checked options.
        ///
        /// - Throws: ``ConfigurationError`` for a capacity below 1 MiB, a segment size outside 64 KiB...128 MiB or
        ///   above a quarter of the capacity, a zstd store codec, or a snapshot interval below 1 MiB. With `readOnly`,
        ///   `createIfMissing` is ignored (a read-only open never creates).
        public init(
            capacity: Int?,
            segmentSize: Int? = nil,
            durability: Durability = .default,
            compression: CodecKind = .none,
            fingerprinter: Fingerprinter = Fingerprinter(),
            snapshotInterval: Int = 256 << 20,
            createIfMissing: Bool = true,
            readOnly: Bool = false
        ) throws(ConfigurationError) {
            if let capacity, capacity < Self.minimumCapacity {
                throw ConfigurationError(
                    .capacityTooSmall, setting: "capacity", message: "\(capacity) bytes is below the minimum of 1 MiB")
            }
            if let segmentSize {
                guard Self.segmentSizeRange.contains(segmentSize) else {
                    throw ConfigurationError(
                        .segmentSizeOutOfRange, setting: "segmentSize",
                        message: "\(segmentSize) is outside 64 KiB...128 MiB")
                }
                if let capacity, segmentSize > capacity / 4 {
                    throw ConfigurationError(
                        .segmentSizeAboveCapacity, setting: "segmentSize",
                        message: "\(segmentSize) is above a quarter of the capacity \(capacity)"
                    )
                }
            }
            guard compression != .zstd else {
                throw ConfigurationError(
                    .unsupportedStoreCodec, setting: "compression", message: "the store keeps chunks raw or as lz4")
            }
            guard snapshotInterval >= 1 << 20 else {
                throw ConfigurationError(
                    .snapshotIntervalTooSmall, setting: "snapshotInterval",
                    message: "\(snapshotInterval) is below 1 MiB")
            }
            self.capacity = capacity
            self.segmentSize = segmentSize
            self.durability = durability
            self.compression = compression
            self.fingerprinter = fingerprinter
            self.snapshotInterval = snapshotInterval
            self.createIfMissing = createIfMissing && !readOnly
            self.readOnly = readOnly
        }

        /// The segment size a new store of `capacity` bytes gets.
        func segmentSize(forCapacity capacity: Int) -> Int {
            segmentSize ?? min(64 << 20, max(64 << 10, capacity / 16))
        }
    }

    /// What a store holds and has done since it was opened.
    public struct Statistics: Sendable, Hashable {
        /// The store's identity.
        public var storeID: StoreID
        /// The store's directory.
        public var directory: String
        /// The most bytes of segment files the store keeps.
        public var capacity: Int
        /// The size at which a segment is sealed.
        public var segmentSize: Int
        /// Chunks held.
        public var chunks: Int
        /// Bytes of chunk data held (before the store's own compression).
        public var chunkBytes: Int
        /// Bytes of live records on disk (headers, padding and compressed payloads).
        public var liveRecordBytes: Int
        /// Bytes of segment files on disk, dead records included: what the capacity bounds.
        public var diskBytes: Int
        /// Segment files.
        public var segments: Int
        /// Bytes of RAM the in-memory index takes.
        public var indexMemoryBytes: Int
        /// `get` calls that found their chunk.
        public var hits: Int
        /// `get` calls that did not.
        public var misses: Int
        /// New chunks written.
        public var puts: Int
        /// `put` calls for chunks already held (they only refresh the chunk).
        public var refreshes: Int
        /// Segments evicted to stay within capacity.
        public var evictedSegments: Int
        /// Chunks dropped by eviction.
        public var evictedChunks: Int
        /// Recently used chunks copied forward instead of evicted (CLOCK's second chance).
        public var copiedForward: Int
        /// Chunks found damaged and quarantined since the store was opened.
        public var quarantined: Int
        /// What the last open had to repair.
        public var recovery: RecoveryReport

        /// Index RAM per chunk held, in bytes (0 when empty).
        public var indexBytesPerChunk: Double { chunks == 0 ? 0 : Double(indexMemoryBytes) / Double(chunks) }
    }

    /// What opening the store found and repaired.
    public struct RecoveryReport: Sendable, Hashable {
        /// Whether the index snapshot was used (otherwise the index was rebuilt from every segment).
        public var usedSnapshot = false
        /// Why the snapshot was not used, when it was not.
        public var rebuildReason: String?
        /// Segments scanned (in part, after the snapshot, or in full).
        public var segmentsScanned = 0
        /// Bytes of segment data scanned.
        public var bytesScanned = 0
        /// Bytes cut from the end of the last segment: writes torn by a crash.
        public var truncatedBytes = 0
        /// Damaged records or regions skipped.
        public var damagedRecords = 0
        /// Milliseconds the open took.
        public var milliseconds = 0

        /// Whether the open repaired anything.
        public var repaired: Bool { truncatedBytes > 0 || damagedRecords > 0 }
    }

    /// What ``DiskChunkStore/verify()`` found.
    public struct VerifyReport: Sendable, Hashable {
        /// Records read (chunks and tombstones).
        public var records = 0
        /// Live chunks read back and checked against their fingerprints.
        public var chunksVerified = 0
        /// Bytes of segment data read.
        public var bytesRead = 0
        /// Damaged records or regions found; their chunks are quarantined, and `compact` reclaims the space.
        public var damaged: [String] = []
        /// Chunks quarantined by this verification.
        public var quarantined = 0

        /// Whether the store is clean: no damage anywhere.
        public var isClean: Bool { damaged.isEmpty && quarantined == 0 }
    }

    /// What ``DiskChunkStore/compact(liveRatio:)`` or ``DiskChunkStore/collectGarbage()`` did.
    public struct CompactionReport: Sendable, Hashable {
        /// Segments rewritten and removed.
        public var segmentsRemoved = 0
        /// Records copied into the active segment.
        public var recordsCopied = 0
        /// Bytes of disk freed (removed segments less copies).
        public var bytesReclaimed = 0
    }
}

extension DiskChunkStore {
    /// Whether `directory` holds a store (its `store.meta` exists).
    public static func exists(at directory: String) -> Bool {
        StoreIO.exists(directory + "/" + StoreLayout.metaName)
    }
}
