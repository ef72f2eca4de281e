import ArgumentParser
import Foundation
import ReplicaCore

/// `replica-bench`: Replica's throughput and ratio beside zstd and lz4, on the same bytes in the same run.
@main
struct ReplicaBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica-bench",
        abstract: "Measures Replica's throughput and ratio beside zstd and lz4 on the same bytes.",
        discussion: """
            With no selection it runs the default set: every synthetic corpus (Replica with zstd-3 and lz4-1, \
            zstd 1/3/19 with and without long mode, lz4 and lz4 HC), the WAN scenario on synthetic source-tree \
            and disk-image versions, and the headline figures of the performance targets. Build in release \
            mode (make bench). The JSON schema is described in docs/PERFORMANCE.md.
            """)

    @Flag(help: "A CI-sized run of a few seconds: 1 MiB corpora, 2 runs, every round trip checked.")
    var quick = false

    @Option(
        help: ArgumentHelp(
            "Also write the report as JSON (schema replica-bench/1) to this file.",
            discussion: "Use - for standard output instead of the tables.", valueName: "path"))
    var json: String?

    @Option(help: "Runs per measurement; the report gives their median, min and max.")
    var runs = 5

    @Option(help: "Seconds after which a measurement stops repeating (it always runs once).")
    var budget = 10.0

    @Option(help: "Bytes per synthetic corpus, with an optional K, M or G suffix.")
    var size = ByteCount(32 << 20)

    @Option(help: "The seed of the synthetic corpora.")
    var seed: UInt64 = 0x5245_504C_4943_41

    @Option(name: .customLong("corpus"), help: "A synthetic corpus to measure (repeatable; default: all).")
    var corpora: [CorpusKind] = []

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Files or directories to measure instead of the synthetic corpora.",
            discussion: "A directory is read as a tar-like concatenation of its files in sorted order."))
    var input: [String] = []

    @Option(
        parsing: .upToNextOption,
        help: "Versions (files or directories) sent one after another: report the bytes on the wire per step.")
    var versions: [String] = []

    @Option(
        name: .customLong("baseline"),
        help: ArgumentHelp(
            "A baseline to run on the corpora (repeatable; default: all but LZ4_compress_default).",
            discussion: "Names as in the report: zstd-3, zstd-3-long, zstd-3-long-T0, lz4-1, lz4hc-9, ..."))
    var baselineNames: [String] = []

    @Option(name: .customLong("patch-from-level"), help: "zstd levels of the patch-from baseline (repeatable; default: 3 19).")
    var patchFromLevels: [Int] = [3, 19]

    @Flag(help: "Walk the average chunk size (1 KiB to 64 KiB), the codec and the level on one input.")
    var sweep = false

    @Flag(help: "Only the headline figures of the performance targets.")
    var figures = false

    @Flag(help: "Only the chunking comparison: Replica's kernels beside the plain C FastCDC loop.")
    var chunking = false

    @Option(
        name: .customLong("c-baseline"),
        help: ArgumentHelp(
            "The C FastCDC loop built with cc -O3 -march=native as a shared object (make bench builds it).",
            discussion: "Without it the chunking comparison uses the same C built by SwiftPM.", valueName: "path"))
    var cBaseline: String?

    @Flag(help: "Measure only the Replica engine on the corpora, not the zstd and lz4 baselines (for profiling).")
    var noBaselines = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs)") }
        guard budget > 0 else { throw ValidationError("--budget must be positive, got \(budget)") }
        guard (1 << 10...4 << 30).contains(size.value) else {
            throw ValidationError("--size must be between 1 KiB and 4 GiB, got \(size.value) bytes")
        }
        guard versions.isEmpty || versions.count >= 2 else {
            throw ValidationError("--versions needs at least two versions, got \(versions.count)")
        }
        for name in baselineNames where Baseline.named(name) == nil {
            throw ValidationError(
                "unknown baseline \(name); known: \(Baseline.all.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        let size = quick ? 1 << 20 : self.size.value
        let policy = quick ? RunPolicy(runs: 2, budgetSeconds: 1) : RunPolicy(runs: runs, budgetSeconds: budget)
        let machine = machineDescription()
        var report = Report(
            machine: .init(
                cpu: machine.cpu, cores: machine.cores, libraries: Replica.libraryVersions,
                loadAverageAtStart: loadAverage()),
            settings: .init(seed: seed, size: size, runs: policy.runs, budgetSeconds: policy.budgetSeconds, quick: quick))
        // --corpus and --input narrow the run to the corpora section; no selection at all runs everything.
        let defaultSet = !sweep && !figures && !chunking && versions.isEmpty && input.isEmpty && corpora.isEmpty
        var recorder = Recorder(report: report)

        if chunking || defaultSet {
            progress("chunking beside the C loop")
            let native = try cBaseline.map { try ChunkingFigures.NativeLoop(path: $0) }
            let random = CorpusKind.random.generate(seed: seed, size: size)
            let figures = ChunkingFigures(
                corpus: "random", data: random, runs: max(policy.runs, 3), native: native)
            do {
                recorder.report.chunking = try figures.run()
            } catch let mismatch as RoundTripMismatch {
                recorder.report.failures.append(mismatch.description)
            }
        }
        if !sweep && !figures && !chunking && versions.isEmpty {
            for (name, data) in try inputs(size: size) {
                try measureCorpus(name: name, data: data, policy: policy, into: &recorder)
            }
        }
        if !versions.isEmpty {
            let loaded = try versions.map { path in
                (name: URL(fileURLWithPath: path).lastPathComponent, bytes: try InputLoader.load(path))
            }
            try recorder.wire(
                VersionsScenario(name: "versions", versions: loaded), previousDefault: true, patchFromLevels: patchFromLevels)
        } else if defaultSet {
            let count = 3
            let source = CorpusKind.sourceVersions(seed: seed, size: size, count: count)
            let image = CorpusKind.imageVersions(seed: seed, size: size, count: count)
            try recorder.wire(VersionsScenario(name: "source-tree", versions: Self.named(source)))
            try recorder.wire(VersionsScenario(name: "disk-image", versions: Self.named(image)))
        }
        if figures || defaultSet {
            progress("headline figures")
            try recorder.rows { try HeadlineFigures(size: size, seed: seed, policy: policy).run() }
        }
        if sweep {
            // One input: the first --input, else the first --corpus, else the mix.
            let (name, data) =
                input.isEmpty && corpora.isEmpty
                ? ("mix", CorpusKind.mix.generate(seed: seed, size: size)) : try inputs(size: size)[0]
            try Sweep(corpus: name, data: data, policy: policy).run(into: &recorder)
        }

        report = recorder.report
        report.peakRSSBytes = peakResidentBytes()
        report.machine.loadAverageAtEnd = loadAverage()
        switch json {
        case "-":
            print(try report.json())
        case let path?:
            try writeAtomically(try report.json() + "\n", to: path)
            print(report.table())
        case nil:
            print(report.table())
        }
        if !report.failures.isEmpty {
            throw ExitCode(1)
        }
    }

    /// The inputs named with `--input`, or the selected synthetic corpora.
    private func inputs(size: Int) throws -> [(String, [UInt8])] {
        if !input.isEmpty {
            return try input.map { path in (path, try InputLoader.load(path)) }
        }
        let kinds = corpora.isEmpty ? CorpusKind.allCases : corpora
        return kinds.map { kind in (kind.rawValue, kind.generate(seed: seed, size: size)) }
    }

    private func measureCorpus(name: String, data: [UInt8], policy: RunPolicy, into recorder: inout Recorder) throws {
        var runners = [try ReplicaRunner(codec: CodecConfiguration(.zstd, level: 3))]
        // On the user's own data, also the previous default (format 1's zstd: no long-distance window): the
        // "before" of the same run.
        if !input.isEmpty { runners.append(try ReplicaRunner.previousDefault()) }
        runners.append(try ReplicaRunner(codec: CodecConfiguration(.lz4, level: 1)))
        for runner in runners {
            progress("\(runner.name) on \(name)")
            try recorder.row { try runner.run(section: "corpora", corpus: name, data: data, policy: policy, stages: true) }
        }
        let baselines = baselineNames.isEmpty ? Baseline.standard : baselineNames.compactMap(Baseline.named)
        for baseline in noBaselines ? [] : baselines {
            progress("\(baseline.name) on \(name)")
            try recorder.row { try baseline.run(section: "corpora", corpus: name, data: data, policy: policy) }
        }
    }

    private static func named(_ versions: [[UInt8]]) -> [(name: String, bytes: [UInt8])] {
        versions.enumerated().map { index, bytes in ("v\(index + 1)", bytes) }
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a reader never
/// sees a half-written report.
func writeAtomically(_ text: String, to path: String) throws {
    let target = URL(fileURLWithPath: path)
    let temporary = target.deletingLastPathComponent()
        .appendingPathComponent(".\(target.lastPathComponent).\(getpid()).tmp")
    do {
        try Data(text.utf8).write(to: temporary)
        if rename(temporary.path, target.path) != 0 {
            throw CocoaError(.fileWriteUnknown)
        }
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw BenchFailure(description: "cannot write the JSON report to \(path): \(error)")
    }
}

/// Writes a progress line to standard error, so standard output carries only the report.
func progress(_ message: String) {
    FileHandle.standardError.write(Data("replica-bench: \(message)\n".utf8))
}

/// Collects rows into the report; a round-trip mismatch is recorded as a failure and the run goes on.
struct Recorder {
    /// The report so far.
    var report: Report

    /// Adds the row `body` measures, or records its mismatch.
    mutating func row(_ body: () throws -> ResultRow) throws {
        try rows { [try body()] }
    }

    /// Adds the rows `body` measures, or records its mismatch.
    mutating func rows(_ body: () throws -> [ResultRow]) throws {
        do {
            report.rows += try body()
        } catch let mismatch as RoundTripMismatch {
            report.failures.append(mismatch.description)
        }
    }

    /// Runs the WAN scenario with Replica (zstd-3 and lz4-1, store-backed) and zstd patch-from at 3 and 19.
    ///
    /// With `previousDefault`, also Replica as format version 1 sent it (no store runs, no long zstd window), as
    /// the "before" of the same run.
    mutating func wire(
        _ scenario: VersionsScenario, previousDefault: Bool = false, patchFromLevels: [Int] = [3, 19]
    ) throws {
        progress("versions scenario \(scenario.name)")
        do {
            var configurations = [try EncoderConfiguration(codec: CodecConfiguration(.zstd, level: 3))]
            if previousDefault { configurations.append(try ReplicaRunner.previousDefault().configuration) }
            configurations.append(try EncoderConfiguration(codec: CodecConfiguration(.lz4, level: 1)))
            report.wire += try scenario.run(replicaConfigurations: configurations, patchFromLevels: patchFromLevels)
        } catch let mismatch as RoundTripMismatch {
            report.failures.append(mismatch.description)
        }
    }
}
