import ReplicaCore

/// The figures the targets name, each beside its baseline from the same run, on one core:
///
/// - chunking random data at avg 8 KiB, beside `memcpy` and one-call XXH3 over the same bytes;
/// - fingerprinting the same chunks;
/// - encode and decode on a stream whose chunks repeat 90% (lz4 and zstd-3);
/// - encode and decode on unique compressible data (logs) with lz4, beside one `LZ4_compress_default` call.
struct HeadlineFigures {
    /// Bytes per input.
    let size: Int
    /// The corpus seed.
    let seed: UInt64
    /// Runs per figure.
    let policy: RunPolicy

    /// Measures every figure. Rows go in the `figures` section.
    ///
    /// - Throws: ``RoundTripMismatch`` when a decode differs from its input; engine errors as they come.
    func run() throws -> [ResultRow] {
        var rows: [ResultRow] = []
        let lz4 = try CodecConfiguration(.lz4, level: 1)
        let zstd = try CodecConfiguration(.zstd, level: 3)

        let random = CorpusKind.random.generate(seed: seed, size: size)
        let chunking = try ReplicaRunner(codec: lz4, averageChunkSize: 8 << 10)
        var row = try chunking.run(section: "figures", corpus: "random-avg8K", data: random, policy: policy, stages: true)
        row.engine = "replica-stages-lz4-1"
        rows.append(row)
        rows.append(try contextRow("memcpy", random) { source, destination in
            destination.copyMemory(from: source)
            return source.count
        })
        rows.append(try contextRow("xxh3-64-one-call", random) { source, _ in
            Int(truncatingIfNeeded: Baselines.xxh3Hash64(source) & 1)
        })
        rows.append(try contextRow("xxh3-128-one-call", random) { source, _ in
            Int(truncatingIfNeeded: Baselines.xxh3Hash128Folded(source) & 1)
        })

        // 90% repeated chunks: a tenth of the size of mixed data, sent ten times.
        let unique = CorpusKind.mix.generate(seed: seed, size: max(1, size / 10))
        let repeated = Array([[UInt8]](repeating: unique, count: 10).joined())
        for codec in [lz4, zstd] {
            var row = try ReplicaRunner(codec: codec).run(
                section: "figures", corpus: "repeated-90pct", data: repeated, policy: policy, stages: false)
            row.peakRSSBytes = peakResidentBytes()
            rows.append(row)
        }

        // Unique compressible data: the encoder's lz4 path against one plain LZ4_compress_default call.
        let logs = CorpusKind.logs.generate(seed: seed, size: size)
        rows.append(
            try ReplicaRunner(codec: lz4).run(
                section: "figures", corpus: "unique-logs", data: logs, policy: policy, stages: false))
        rows.append(try Baseline.lz4Default.run(section: "figures", corpus: "unique-logs", data: logs, policy: policy))
        return rows
    }

    /// A context row: `body` over the input into a same-sized buffer, timed as "encode".
    private func contextRow(
        _ name: String, _ data: [UInt8],
        _ body: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws -> Int
    ) throws -> ResultRow {
        var row = ResultRow(section: "figures", corpus: "random-avg8K", engine: name, inputBytes: data.count)
        var destination = [UInt8](repeating: 0, count: data.count)
        row.encode = try measure(bytes: data.count, policy: policy) {
            try data.withUnsafeBytes { source in
                try destination.withUnsafeMutableBytes { target in try body(source, target) }
            }
        }.0
        row.peakRSSBytes = peakResidentBytes()
        return row
    }
}
