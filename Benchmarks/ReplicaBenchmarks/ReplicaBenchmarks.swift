// The regression gate over ReplicaCore: chunker, fingerprinting, encode and decode at two sizes.
//
// Thresholds gate only what is stable on a shared 2-core machine: allocation counts (`mallocCountTotal`) and
// retired instructions. Wall-clock time is measured and printed but never gated. Names contain no spaces: the
// plugin looks thresholds up by name in `Thresholds/<Target>.<Name>.p90.json`. See docs/PERFORMANCE.md.
import Benchmark
import ReplicaCore

/// Deterministic input: SplitMix64 bytes, masked to a small alphabet when `compressible`.
func benchmarkInput(size: Int, compressible: Bool, seed: UInt64 = 0x5245_504C_4943_41) -> [UInt8] {
    var state = seed
    var bytes: [UInt8] = []
    bytes.reserveCapacity(size + 8)
    while bytes.count < size {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for shift in stride(from: 0, to: 64, by: 8) {
            let byte = UInt8(truncatingIfNeeded: z >> UInt64(shift))
            bytes.append(compressible ? 0x61 &+ byte % 8 : byte)
        }
    }
    return Array(bytes.prefix(size))
}

/// A stream where nine tenths of the chunks repeat: a tenth of `size` of compressible data, sent ten times.
func repeatedInput(size: Int) -> [UInt8] {
    Array([[UInt8]](repeating: benchmarkInput(size: size / 10, compressible: true), count: 10).joined())
}

/// Encodes `data` as one self-contained stream.
func encodeStream(_ data: [UInt8], _ configuration: EncoderConfiguration) throws -> [UInt8] {
    let encoder = try StreamEncoder(configuration: configuration)
    var output: [UInt8] = []
    output.reserveCapacity(data.count + 4096)
    try encoder.encode(data, into: &output)
    try encoder.finish(into: &output)
    return output
}

/// Decodes a whole stream.
func decodeStream(_ encoded: [UInt8], capacity: Int) throws -> [UInt8] {
    let decoder = try StreamDecoder(options: DecoderOptions())
    var output: [UInt8] = []
    output.reserveCapacity(capacity)
    try decoder.decode(encoded, into: &output)
    try decoder.finish()
    return output
}

let benchmarks: @Sendable () -> Void = {
    let gated: [BenchmarkMetric: BenchmarkThresholds] = [
        // Allocation counts are deterministic for a given input: a small absolute slack absorbs runtime noise.
        .mallocCountTotal: .init(relative: [.p90: 5], absolute: [.p90: 20]),
        // Instructions vary by a percent or two with ASLR and the page cache; 5% catches real regressions.
        .instructions: .init(relative: [.p90: 5]),
    ]
    // Only the gated metrics are measured, so `thresholds update` writes only them into the p90 files (a metric
    // in a file is checked, with strict tolerances unless configured). Instructions need perf counters; where
    // the kernel or the container refuses them, the metric is absent and only allocations are gated.
    // Throughput is replica-bench's job.
    Benchmark.defaultConfiguration = .init(
        metrics: [.mallocCountTotal, .instructions],
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(2),
        maxIterations: 10,
        thresholds: gated
    )

    let lz4 = (try? CodecConfiguration(.lz4, level: 1)) ?? .default
    let zstd = CodecConfiguration.default

    for (label, size) in [("1MiB", 1 << 20), ("16MiB", 16 << 20)] {
        let random = benchmarkInput(size: size, compressible: false)
        let compressible = benchmarkInput(size: size, compressible: true)
        let repeated = repeatedInput(size: size)

        Benchmark("Chunker_random_avg8K_\(label)") { benchmark in
            var chunker = Chunker(.default)
            var count = 0
            random.withUnsafeBytes { buffer in
                chunker.append(buffer) { _ in count += 1 }
                chunker.finish { _ in count += 1 }
            }
            blackHole(count)
        }

        Benchmark("Fingerprint_chunks_avg8K_\(label)") { benchmark in
            let fingerprinter = Fingerprinter()
            var chunker = Chunker(.default)
            var mix: UInt64 = 0
            random.withUnsafeBytes { buffer in
                chunker.append(buffer) { mix ^= fingerprinter.fingerprint($0).low }
                chunker.finish { mix ^= fingerprinter.fingerprint($0).low }
            }
            blackHole(mix)
        }

        for (codecLabel, codec) in [("lz4", lz4), ("zstd3", zstd)] {
            let configuration = try? EncoderConfiguration(codec: codec)
            Benchmark("Encode_\(codecLabel)_compressible_\(label)") { benchmark in
                guard let configuration else { return }
                blackHole(try encodeStream(compressible, configuration))
            }
            Benchmark("Encode_\(codecLabel)_repeated90_\(label)") { benchmark in
                guard let configuration else { return }
                blackHole(try encodeStream(repeated, configuration))
            }
            let encoded = configuration.flatMap { try? encodeStream(compressible, $0) } ?? []
            Benchmark("Decode_\(codecLabel)_compressible_\(label)") { benchmark in
                blackHole(try decodeStream(encoded, capacity: size))
            }
        }
    }
}
