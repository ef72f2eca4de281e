import ReplicaCore

/// The WAN scenario: send version A, then B once A has crossed, then C once B has, and count the bytes on the
/// wire for each step.
///
/// Replica runs store-backed: the sender and the receiver each keep a ``MemoryChunkStore`` with the same
/// store ID, so a chunk that crossed in an earlier step travels as a 16-byte fingerprint. The baseline is
/// `zstd --patch-from` in library form: each version compressed with the previous one as a prefix
/// (`ZSTD_CCtx_refPrefix`) in long mode, at levels 3 and 19; the first step has no prefix.
struct VersionsScenario {
    /// The scenario's name in reports.
    let name: String
    /// The versions in the order they are sent, with their names.
    let versions: [(name: String, bytes: [UInt8])]

    /// Runs every engine over every step, checking that each step decodes to its version.
    ///
    /// - Throws: ``RoundTripMismatch`` when a step does not decode to its version; engine errors as they come.
    func run(replicaConfigurations: [EncoderConfiguration], patchFromLevels: [Int]) throws -> [WireRow] {
        var rows: [WireRow] = []
        for configuration in replicaConfigurations {
            rows += try runReplica(configuration: configuration)
        }
        for level in patchFromLevels {
            rows += try runPatchFrom(level: level)
        }
        return rows
    }

    private func runReplica(configuration: EncoderConfiguration) throws -> [WireRow] {
        let engine = "replica-\(ReplicaRunner.codecName(configuration.codec))-store"
        let total = versions.reduce(0) { $0 + $1.bytes.count }
        let storeID = StoreID.random()
        let senderStore = MemoryChunkStore(capacity: 2 * total + (1 << 20), storeID: storeID)
        let receiverStore = MemoryChunkStore(capacity: 2 * total + (1 << 20), storeID: storeID)
        var rows: [WireRow] = []
        for version in versions {
            var wire: [UInt8] = []
            wire.reserveCapacity(version.bytes.count / 2 + 4096)
            let start = monotonicSeconds()
            let encoder = try StreamEncoder(configuration: configuration, store: senderStore)
            try encoder.encode(version.bytes, into: &wire)
            try encoder.finish(into: &wire)
            let seconds = max(monotonicSeconds() - start, 1e-9)
            let decoder = try StreamDecoder(options: DecoderOptions(), store: receiverStore)
            var restored: [UInt8] = []
            try decoder.decode(wire, into: &restored)
            try decoder.finish()
            try checkRoundTrip(restored, version.bytes, what: "\(engine) on \(name) step \(version.name)")
            rows.append(
                WireRow(
                    scenario: name, step: version.name, engine: engine, inputBytes: version.bytes.count,
                    wireBytes: wire.count,
                    deduplicatedPercent: 100 * encoder.statistics.deduplicatedByteFraction,
                    encodeMBps: Double(version.bytes.count) / seconds / 1e6))
        }
        return rows
    }

    private func runPatchFrom(level: Int) throws -> [WireRow] {
        let engine = "zstd-\(level)-patch-from"
        var rows: [WireRow] = []
        var previous: [UInt8] = []
        for version in versions {
            // As `zstd --patch-from`, the window covers the prefix and the new version.
            let span = previous.count + version.bytes.count
            let windowLog = min(30, max(Baseline.longWindowLog, Int.bitWidth - max(1, span).leadingZeroBitCount))
            let compressor = try ZstdCompressor(level: level, longDistanceWindowLog: windowLog)
            var frame = [UInt8](repeating: 0, count: ZstdCompressor.bound(version.bytes.count))
            let start = monotonicSeconds()
            let size = try previous.withUnsafeBytes { prefix in
                try version.bytes.withUnsafeBytes { source in
                    try frame.withUnsafeMutableBytes { destination in
                        try compressor.compress(source, into: destination, prefix: prefix)
                    }
                }
            }
            let seconds = max(monotonicSeconds() - start, 1e-9)
            frame.removeLast(frame.count - size)
            let decompressor = try ZstdDecompressor(windowLogMax: windowLog)
            var restored = [UInt8](repeating: 0, count: version.bytes.count)
            let count = try previous.withUnsafeBytes { prefix in
                try frame.withUnsafeBytes { source in
                    try restored.withUnsafeMutableBytes { destination in
                        try decompressor.decompress(source, into: destination, prefix: prefix)
                    }
                }
            }
            try checkRoundTrip(Array(restored[0..<count]), version.bytes, what: "\(engine) on \(name) step \(version.name)")
            rows.append(
                WireRow(
                    scenario: name, step: version.name, engine: engine, inputBytes: version.bytes.count,
                    wireBytes: size, deduplicatedPercent: nil, encodeMBps: Double(version.bytes.count) / seconds / 1e6))
            previous = version.bytes
        }
        return rows
    }
}
