import Foundation

/// One measured engine on one input: the Replica engine (with per-stage figures) or a baseline.
///
/// For a baseline, `encode` is its compression and `decode` its decompression; the stage fields stay nil.
struct ResultRow: Codable {
    /// `corpora`, `figures` or `sweep`.
    var section: String
    /// The input's name: a synthetic corpus, a path, or a figure's name.
    var corpus: String
    /// The engine and its settings, for example `replica-zstd-3` or `zstd-19-long`.
    var engine: String
    /// Bytes of input.
    var inputBytes: Int
    /// Bytes of output (encoded stream or compressed frame).
    var outputBytes: Int?
    /// Input bytes per output byte.
    var ratio: Double?
    /// Percent of input bytes sent as references (Replica only).
    var deduplicatedPercent: Double?
    /// Chunks cut (Replica only).
    var chunks: Int?
    /// Chunking throughput (Replica only).
    var chunking: Throughput?
    /// Fingerprinting throughput over the same chunks (Replica only).
    var fingerprinting: Throughput?
    /// Encode or compress throughput.
    var encode: Throughput?
    /// Decode or decompress throughput.
    var decode: Throughput?
    /// The process's peak RSS when the row was finished (a high-water mark: it never goes down).
    var peakRSSBytes: Int

    init(section: String, corpus: String, engine: String, inputBytes: Int) {
        self.section = section
        self.corpus = corpus
        self.engine = engine
        self.inputBytes = inputBytes
        self.peakRSSBytes = 0
    }
}

/// One step of the WAN scenario for one engine: the bytes that crossed the link.
struct WireRow: Codable {
    /// The scenario's name.
    var scenario: String
    /// The step's name (the version sent).
    var step: String
    /// The engine: `replica-zstd-3-store`, `zstd-3-patch-from`, ...
    var engine: String
    /// Bytes of the version sent.
    var inputBytes: Int
    /// Bytes on the wire for this step.
    var wireBytes: Int
    /// Percent of the step's bytes sent as references (Replica only).
    var deduplicatedPercent: Double?
    /// Encode or compress throughput of the step (one run).
    var encodeMBps: Double
}

/// Everything one run of `replica-bench` measured. Encoded as JSON with `--json`; see docs/PERFORMANCE.md.
struct Report: Codable {
    /// The schema's name and version: `replica-bench/1`. Fields are only ever added within a version.
    var schema = "replica-bench/1"
    /// The machine and the libraries.
    var machine: Machine
    /// The settings of the run.
    var settings: Settings
    /// Engine and baseline rows for the corpora, the headline figures and the sweep.
    var rows: [ResultRow] = []
    /// The WAN scenario's steps.
    var wire: [WireRow] = []
    /// Replica's chunker beside the plain C FastCDC loop.
    var chunking: [ChunkingRow] = []
    /// Round trips that did not give back the input, named; empty when all passed.
    var failures: [String] = []
    /// The process's peak RSS at the end of the run.
    var peakRSSBytes = 0

    /// Where the run happened.
    struct Machine: Codable {
        /// CPU model from /proc/cpuinfo.
        var cpu: String
        /// Online cores.
        var cores: Int
        /// The linked zstd, lz4 and xxhash versions.
        var libraries: String
        /// The one-minute load average when the run started.
        var loadAverageAtStart: Double
        /// The one-minute load average when the run ended.
        var loadAverageAtEnd = 0.0
    }

    /// How the run was set up.
    struct Settings: Codable {
        /// The corpus generator's seed.
        var seed: UInt64
        /// The size of each synthetic corpus.
        var size: Int
        /// Runs per measurement.
        var runs: Int
        /// Seconds after which a measurement stops repeating.
        var budgetSeconds: Double
        /// Whether this was a `--quick` run.
        var quick: Bool
    }

    /// The report as indented JSON with sorted keys.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The report as plain-text tables.
    func table() -> String {
        var text = "replica-bench on \(machine.cpu), \(machine.cores) cores; \(machine.libraries)\n"
        text += "MB/s = 10^6 bytes per second, median (min-max) of up to \(settings.runs) runs; one core\n"
        text += String(
            format: "load average %.2f at start, %.2f at end (more than %d: other processes shared the CPU)\n",
            machine.loadAverageAtStart, machine.loadAverageAtEnd, machine.cores)
        for section in ["corpora", "figures", "sweep"] {
            let rows = self.rows.filter { $0.section == section }
            guard !rows.isEmpty else { continue }
            text += "\n== \(section) ==\n"
            let header = ["input", "engine", "size", "ratio", "dedup %", "chunk MB/s", "fingerprint MB/s",
                "encode MB/s", "decode MB/s"]
            let cells = rows.map { row in
                [row.corpus, row.engine, Self.bytes(row.inputBytes), row.ratio.map { String(format: "%.3f", $0) } ?? "-",
                    row.deduplicatedPercent.map { String(format: "%.1f", $0) } ?? "-", Self.rate(row.chunking),
                    Self.rate(row.fingerprinting), Self.rate(row.encode), Self.rate(row.decode)]
            }
            text += Self.render(header: header, cells: cells, leftColumns: 2)
        }
        if !chunking.isEmpty {
            text += "\n== chunking (MB/s of thread CPU time, rounds interleaved; ratio = median / C loop median) ==\n"
            let cells = chunking.map { row in
                [row.corpus, row.variant, row.engine, String(row.chunks), Self.rate(row.throughput),
                    String(format: "%.2fx", row.ratioToCLoop)]
            }
            text += Self.render(
                header: ["input", "FastCDC", "engine", "chunks", "chunk MB/s", "vs C loop"], cells: cells,
                leftColumns: 3)
        }
        if !wire.isEmpty {
            text += "\n== versions (bytes on the wire per step) ==\n"
            let cells = wire.map { row in
                [row.scenario, row.step, row.engine, Self.bytes(row.inputBytes), String(row.wireBytes),
                    String(format: "%.2f%%", 100 * Double(row.wireBytes) / Double(max(1, row.inputBytes))),
                    row.deduplicatedPercent.map { String(format: "%.1f", $0) } ?? "-",
                    String(format: "%.0f", row.encodeMBps)]
            }
            text += Self.render(
                header: ["scenario", "step", "engine", "size", "wire bytes", "wire/size", "dedup %", "encode MB/s"],
                cells: cells, leftColumns: 3)
        }
        text += "\npeak RSS \(Self.bytes(peakRSSBytes))\n"
        for failure in failures { text += "FAILED: \(failure)\n" }
        return text
    }

    private static func rate(_ throughput: Throughput?) -> String {
        guard let throughput else { return "-" }
        return String(format: "%.0f (%.0f-%.0f)", throughput.median, throughput.min, throughput.max)
    }

    /// A size in binary units, for tables.
    static func bytes(_ count: Int) -> String {
        if count >= 1 << 30 { return String(format: "%.1f GiB", Double(count) / Double(1 << 30)) }
        if count >= 1 << 20 { return String(format: "%.1f MiB", Double(count) / Double(1 << 20)) }
        if count >= 1 << 10 { return String(format: "%.1f KiB", Double(count) / Double(1 << 10)) }
        return "\(count) B"
    }

    private static func render(header: [String], cells: [[String]], leftColumns: Int) -> String {
        var widths = header.map(\.count)
        for row in cells {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column < leftColumns ? cell + padding : padding + cell
            }.joined(separator: "  ") + "\n"
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        return line(header) + rule + cells.map(line).joined()
    }
}
