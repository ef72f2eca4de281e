import CFastCDCBaseline
import Foundation
import ReplicaCore

/// One chunker on one input in the chunking comparison.
struct ChunkingRow: Codable {
    /// The input: `random-32M` and the like.
    var corpus: String
    /// FastCDC `2016` or `2020`.
    var variant: String
    /// `replica-lanes` (the multi-lane kernel, default for 2016), `replica-scalar` (the one-chain loops, the
    /// only kernel before it and still the default for 2020), `c-loop-native`
    /// (`cc -O3 -march=native`, loaded from a shared object) or `c-loop-package` (the same C built by SwiftPM).
    var engine: String
    /// Chunks cut; every engine must cut the same ones (checked, length by length).
    var chunks: Int
    /// Chunking throughput in MB/s of thread CPU time, so a busy machine slows it less than wall time.
    var throughput: Throughput
    /// This engine's median over the C loop's median: `c-loop-native` when it was loaded, else `c-loop-package`.
    var ratioToCLoop: Double
}

/// Replica's chunker beside a plain C FastCDC loop, interleaved run by run on the same bytes (issue 10 goal 4).
struct ChunkingFigures {
    /// The native C loop: a shared object built by `make bench` with `cc -O3 -march=native`.
    struct NativeLoop {
        typealias Initialise = @convention(c) (
            UnsafeMutablePointer<replica_fastcdc_baseline>?, Int32, Int, Int, Int, Int32, UInt64
        ) -> Int32
        typealias Chunk = @convention(c) (
            UnsafePointer<replica_fastcdc_baseline>?, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UInt32>?, Int
        ) -> Int
        let initialise: Initialise
        let chunk: Chunk

        /// Loads the shared object at `path`, or throws naming what is missing.
        init(path: String) throws {
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                throw BenchFailure(description: "cannot load the native C baseline \(path): \(String(cString: dlerror()))")
            }
            guard let initialise = dlsym(handle, "replica_fastcdc_baseline_init"),
                let chunk = dlsym(handle, "replica_fastcdc_baseline_chunk")
            else {
                throw BenchFailure(description: "\(path) lacks the replica_fastcdc_baseline_* symbols")
            }
            self.initialise = unsafeBitCast(initialise, to: Initialise.self)
            self.chunk = unsafeBitCast(chunk, to: Chunk.self)
        }
    }

    /// The input.
    let corpus: String
    let data: [UInt8]
    /// Rounds; each round runs every engine once.
    let runs: Int
    /// The native loop, when `make bench` built it.
    let native: NativeLoop?

    /// Measures every engine on both variants at Replica's default sizes (2/8/32 KiB, normalisation 1).
    ///
    /// - Throws: ``RoundTripMismatch`` when an engine cuts differently from the C loop.
    func run() throws -> [ChunkingRow] {
        var rows: [ChunkingRow] = []
        for variant in ChunkerConfiguration.Variant.allCases {
            let configuration = try ChunkerConfiguration(
                variant: variant, minimumSize: 2 << 10, averageSize: 8 << 10, maximumSize: 32 << 10, normalization: 1)
            rows += try measure(configuration)
        }
        return rows
    }

    private func measure(_ configuration: ChunkerConfiguration) throws -> [ChunkingRow] {
        var state = replica_fastcdc_baseline()
        let variant = configuration.variant == .v2016 ? Int32(2016) : 2020
        let arguments = (
            variant, configuration.minimumSize, configuration.averageSize, configuration.maximumSize,
            Int32(configuration.normalization), configuration.seed
        )
        var engines: [(name: String, cut: () -> [UInt32])] = []
        if let native {
            var nativeState = replica_fastcdc_baseline()
            guard native.initialise(&nativeState, arguments.0, arguments.1, arguments.2, arguments.3,
                arguments.4, arguments.5) == 0
            else { throw BenchFailure(description: "the native C baseline refused \(configuration)") }
            let frozen = nativeState
            engines.append(("c-loop-native", { cLoop(frozen, chunk: native.chunk) }))
        }
        guard replica_fastcdc_baseline_init(&state, arguments.0, arguments.1, arguments.2, arguments.3,
            arguments.4, arguments.5) == 0
        else { throw BenchFailure(description: "the C baseline refused \(configuration)") }
        let packaged = state
        engines.append(("c-loop-package", { cLoop(packaged, chunk: replica_fastcdc_baseline_chunk) }))
        for kernel in [FastCDC.Kernel.scalar, .lanes] {
            engines.append(("replica-\(kernel.rawValue)", { replicaLengths(configuration, kernel: kernel) }))
        }

        var rates = [[Double]](repeating: [], count: engines.count)
        var reference: [UInt32]?
        var counts = [Int](repeating: 0, count: engines.count)
        for _ in 0..<runs {
            for (index, engine) in engines.enumerated() {
                let start = threadCPUSeconds()
                let lengths = engine.cut()
                let seconds = max(threadCPUSeconds() - start, 1e-9)
                rates[index].append(Double(data.count) / seconds / 1e6)
                counts[index] = lengths.count
                if let reference, lengths != reference {
                    throw RoundTripMismatch(
                        description: "\(engine.name) cuts \(corpus) (FastCDC \(configuration.variant.rawValue)) "
                            + "differently from the C loop: \(lengths.count) chunks against \(reference.count)")
                }
                reference = reference ?? lengths
            }
        }
        let throughputs = rates.map(Self.summary)
        let baseline = throughputs[0].median
        return engines.indices.map { index in
            ChunkingRow(
                corpus: corpus, variant: configuration.variant.rawValue, engine: engines[index].name,
                chunks: counts[index], throughput: throughputs[index], ratioToCLoop: throughputs[index].median / baseline)
        }
    }

    private func cLoop(_ state: replica_fastcdc_baseline, chunk: NativeLoop.Chunk) -> [UInt32] {
        var state = state
        let capacity = data.count / 16 + 1
        return [UInt32](unsafeUninitializedCapacity: capacity) { lengths, initialised in
            initialised = data.withUnsafeBufferPointer { bytes in
                min(capacity, chunk(&state, bytes.baseAddress, bytes.count, lengths.baseAddress, capacity))
            }
        }
    }

    private func replicaLengths(_ configuration: ChunkerConfiguration, kernel: FastCDC.Kernel) -> [UInt32] {
        var chunker = Chunker(configuration, kernel: kernel)
        var lengths: [UInt32] = []
        lengths.reserveCapacity(data.count / 16 + 1)
        data.withUnsafeBytes { buffer in
            chunker.append(buffer) { lengths.append(UInt32($0.count)) }
            chunker.finish { lengths.append(UInt32($0.count)) }
        }
        return lengths
    }

    private static func summary(_ rates: [Double]) -> Throughput {
        let sorted = rates.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return Throughput(median: median, min: sorted[0], max: sorted[sorted.count - 1], runs: sorted.count)
    }
}

/// The calling thread's CPU time in seconds (`CLOCK_THREAD_CPUTIME_ID`).
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
