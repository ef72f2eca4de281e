import ArgumentParser
import ReplicaCore

/// `replica store`: create, inspect, check and maintain a persistent chunk store (a ``DiskChunkStore``).
///
/// Every subcommand takes the store's directory and `--json`; they open the store like `compress --store` does,
/// so they wait for nothing and refuse a store another process holds ("store DIR is in use by pid N").
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Create, inspect, check and maintain a persistent chunk store.",
        discussion: """
            A store lets compress --store DIR send only the chunks the other side lacks; decompress --store DIR \
            learns them. See docs/STORE.md. Example: replica store init /var/lib/replica --capacity 50G
            """,
        subcommands: [
            StoreInitCommand.self, StoreStatsCommand.self, StoreVerifyCommand.self, StoreGCCommand.self,
            StoreCompactCommand.self, StorePurgeCommand.self,
        ])
}

/// The arguments every `store` subcommand shares.
struct StoreArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("The store's directory.", valueName: "dir"))
    var directory: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// Opens the existing store.
    func open() throws -> DiskChunkStore {
        let options = try DiskChunkStore.Options(capacity: nil, createIfMissing: false)
        guard DiskChunkStore.exists(at: directory) else {
            throw ChunkStoreError(
                .notAStore,
                "\(directory) is not a Replica store; create one with `replica store init \(directory)`")
        }
        return try DiskChunkStore(directory: directory, options: options)
    }

    /// Prints `fields` as aligned `name  value` lines, or as one JSON object (values are JSON already).
    func print(_ fields: [(name: String, key: String, text: String, json: String)]) throws {
        let output = TextOutput()
        if json {
            try output.line("{" + fields.map { "\(jsonString($0.key)):\($0.json)" }.joined(separator: ",") + "}")
        } else {
            let width = (fields.map(\.name.count).max() ?? 0) + 2
            for field in fields {
                try output.line(field.name + String(repeating: " ", count: width - field.name.count) + field.text)
            }
        }
        try output.flush()
    }
}

/// A text and JSON field for a byte count.
private func bytesField(_ name: String, _ key: String, _ count: Int) -> (String, String, String, String) {
    (name, key, "\(count) bytes (\(TextFormat.bytes(UInt64(max(0, count)))))", "\(count)")
}

/// A text and JSON field for a plain number.
private func numberField(_ name: String, _ key: String, _ value: some CustomStringConvertible)
    -> (String, String, String, String)
{
    (name, key, value.description, value.description)
}

/// `replica store init DIR [--capacity 50G]`.
struct StoreInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create an empty store with a new identity.",
        discussion: "Example: replica store init /var/lib/replica --capacity 50G")

    @OptionGroup var store: StoreArguments

    @Option(help: "The most bytes of segment files the store keeps before it evicts.")
    var capacity = ByteCount(DiskChunkStore.Options.defaultCapacity)

    @Option(
        help: ArgumentHelp(
            "The size at which segment files are sealed (default: capacity / 16, 64K to 64M).", visibility: .hidden))
    var segmentSize: ByteCount?

    @Flag(help: "Compress stored chunks with lz4 when it saves space.")
    var lz4 = false

    func run() throws {
        guard !DiskChunkStore.exists(at: store.directory) else {
            throw ChunkStoreError(.invalidArgument, "\(store.directory) is already a Replica store; `replica store purge` empties it")
        }
        let options = try DiskChunkStore.Options(
            capacity: capacity.value, segmentSize: segmentSize?.value, compression: lz4 ? .lz4 : .none)
        let created = try DiskChunkStore(directory: store.directory, options: options)
        let statistics = created.statistics
        try created.close()
        try store.print([
            ("store", "storeID", statistics.storeID.description, jsonString(statistics.storeID.description)),
            ("directory", "directory", store.directory, jsonString(store.directory)),
            bytesField("capacity", "capacity", statistics.capacity),
            bytesField("segment size", "segmentSize", statistics.segmentSize),
        ])
    }
}

/// `replica store stats DIR`.
struct StoreStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show a store's identity, contents, capacity and index size.",
        discussion: "Example: replica store stats --json /var/lib/replica")

    @OptionGroup var store: StoreArguments

    func run() throws {
        let opened = try store.open()
        let s = opened.statistics
        try opened.close()
        let recovery = s.recovery
        try store.print(
            [
                ("store", "storeID", s.storeID.description, jsonString(s.storeID.description)),
                ("directory", "directory", s.directory, jsonString(s.directory)),
                numberField("chunks", "chunks", s.chunks),
                bytesField("chunk bytes", "chunkBytes", s.chunkBytes),
                bytesField("live records", "liveRecordBytes", s.liveRecordBytes),
                bytesField("disk", "diskBytes", s.diskBytes),
                bytesField("capacity", "capacity", s.capacity),
                numberField("segments", "segments", s.segments),
                bytesField("segment size", "segmentSize", s.segmentSize),
                bytesField("index RAM", "indexMemoryBytes", s.indexMemoryBytes),
                (
                    "index RAM/chunk", "indexBytesPerChunk",
                    TextFormat.fixed(s.indexBytesPerChunk, digits: 1) + " bytes",
                    "\(s.indexBytesPerChunk)"
                ),
                (
                    "open", "openMilliseconds",
                    "\(recovery.milliseconds) ms, "
                        + (recovery.usedSnapshot
                            ? "index snapshot" : "index rebuilt (\(recovery.rebuildReason ?? "no snapshot"))")
                        + ", \(recovery.bytesScanned) bytes scanned, \(recovery.truncatedBytes) torn bytes cut",
                    "\(recovery.milliseconds)"
                ),
                ("", "usedSnapshot", "", "\(recovery.usedSnapshot)"),
                ("", "truncatedBytes", "", "\(recovery.truncatedBytes)"),
                ("", "damagedRecords", "", "\(recovery.damagedRecords)"),
            ].filter { !$0.0.isEmpty || store.json })
    }
}

/// `replica store verify DIR`: exit status 0 when clean, 1 when damage was found (and quarantined).
struct StoreVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Read and check every record; exit 0 when the store is clean, 1 when it is not.",
        discussion: """
            Damaged chunks are quarantined (they read as missing and are listed in DIR/quarantine.log); \
            `replica store compact DIR` then reclaims their space. Example: replica store verify /var/lib/replica
            """)

    @OptionGroup var store: StoreArguments

    func run() throws {
        let opened = try store.open()
        let report = try opened.verify()
        let repaired = opened.statistics.recovery
        try opened.close()
        let clean = report.isClean && !repaired.repaired
        try store.print([
            ("status", "clean", clean ? "clean" : "DAMAGED", "\(clean)"),
            numberField("records", "records", report.records),
            numberField("chunks verified", "chunksVerified", report.chunksVerified),
            bytesField("read", "bytesRead", report.bytesRead),
            numberField("quarantined", "quarantined", report.quarantined),
            numberField("repaired at open", "repairedAtOpen", repaired.truncatedBytes + repaired.damagedRecords),
            (
                "damage", "damage", report.damaged.isEmpty ? "none" : report.damaged.prefix(20).joined(separator: "; "),
                "[" + report.damaged.map(jsonString).joined(separator: ",") + "]"
            ),
        ])
        guard clean else { throw ExitCode.failure }
    }
}

/// The fields of a compaction report.
private func compactionFields(_ report: DiskChunkStore.CompactionReport) -> [(String, String, String, String)] {
    [
        numberField("segments removed", "segmentsRemoved", report.segmentsRemoved),
        numberField("records copied", "recordsCopied", report.recordsCopied),
        bytesField("reclaimed", "bytesReclaimed", report.bytesReclaimed),
    ]
}

/// `replica store gc DIR`.
struct StoreGCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove segments that hold no live chunk, damaged segments and leftovers.",
        discussion: "Example: replica store gc /var/lib/replica")

    @OptionGroup var store: StoreArguments

    func run() throws {
        let opened = try store.open()
        let report = try opened.collectGarbage()
        try opened.close()
        try store.print(compactionFields(report))
    }
}

/// `replica store compact DIR`.
struct StoreCompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact", abstract: "Rewrite segments that are mostly dead records, and damaged ones.",
        discussion: "Example: replica store compact --live-ratio 0.7 /var/lib/replica")

    @OptionGroup var store: StoreArguments

    @Option(help: "Rewrite segments whose live records fill at most this fraction of them (0 to 1).")
    var liveRatio = 0.5

    func validate() throws {
        guard (0...1).contains(liveRatio) else { throw ValidationError("--live-ratio must be between 0 and 1") }
    }

    func run() throws {
        let opened = try store.open()
        let report = try opened.compact(liveRatio: liveRatio)
        try opened.close()
        try store.print(compactionFields(report))
    }
}

/// `replica store purge DIR [--new-id]`.
struct StorePurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Drop every chunk; keep the store's identity unless --new-id is given.",
        discussion: "Example: replica store purge --new-id /var/lib/replica")

    @OptionGroup var store: StoreArguments

    @Flag(help: "Give the store a new identity: streams made against the old one will not decode against it.")
    var newID = false

    func run() throws {
        let opened = try store.open()
        try opened.purge(newIdentity: newID)
        let identity = opened.storeID
        try opened.close()
        try store.print([("store", "storeID", identity.description, jsonString(identity.description))])
    }
}
