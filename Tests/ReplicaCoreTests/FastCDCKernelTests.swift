import CFastCDCBaseline
import ReplicaCore
import ReplicaTestSupport
import Testing

/// Every chunking kernel cuts where the reference loops cut: on the golden vectors, on random settings and
/// inputs (random, text, runs of one byte, short periods), whole and split at random.
@Suite("FastCDC kernels")
struct FastCDCKernelTests {
    static func lengths(
        _ input: [UInt8], _ configuration: ChunkerConfiguration, kernel: FastCDC.Kernel,
        pieces: [ArraySlice<UInt8>]? = nil
    ) -> [Int] {
        var chunker = Chunker(configuration, kernel: kernel)
        var lengths: [Int] = []
        for piece in pieces ?? [input[...]] { piece.withUnsafeBytes { chunker.append($0) { lengths.append($0.count) } } }
        chunker.finish { lengths.append($0.count) }
        return lengths
    }

    @Test(
        "every kernel reproduces every vector, whole and split",
        arguments: FastCDC.Kernel.allCases, FastCDCVectorTests.cases)
    func vectors(kernel: FastCDC.Kernel, vector: VectorCase) throws {
        let configuration = try vector.configuration()
        let input = try Fixtures.input(for: vector.input)
        let expected = vector.chunks.map(\.length)
        #expect(Self.lengths(input, configuration, kernel: kernel) == expected)
        let pieces = TestCorpus.randomSplits(input, largest: 40_000, seed: UInt64(vector.max))
        #expect(Self.lengths(input, configuration, kernel: kernel, pieces: pieces) == expected)
    }

    /// Inputs that stress the candidate pass: random bytes, text, long runs (a constant window hash that
    /// may match at every position), short periods, and blocks of each in one input.
    static func inputs(seed: UInt64) -> [[UInt8]] {
        var generator = SplitMix64(seed: seed)
        let random = TestCorpus.random(150_000 + Int(generator.next() % 100_000), seed: generator.next())
        let period = (0..<120_000).map { UInt8(truncatingIfNeeded: $0 % (1 + Int(seed % 13))) }
        var mixed = TestCorpus.random(40_000, seed: seed) + [UInt8](repeating: 0, count: 70_000)
        mixed += TestCorpus.text(60_000) + [UInt8](repeating: 0xFF, count: 33_333) + TestCorpus.random(5_000, seed: 3)
        return [random, period, mixed, [UInt8](repeating: 0, count: 100_000), Array(random.prefix(100))]
    }

    @Test("the lanes kernel cuts as the scalar loops on random settings and inputs", arguments: 0..<24)
    func randomEquivalence(round: Int) throws {
        var generator = SplitMix64(seed: UInt64(round) &* 0x9E37_79B9)
        let average = 64 << Int(generator.next() % 12)
        let minimum = min(average, max(16, average / (1 + Int(generator.next() % 8)) + Int(generator.next() % 3)))
        let maximum = min(16 << 20, average * (1 + Int(generator.next() % 8)) + Int(generator.next() % 3))
        let level = average >= 256 ? Int(generator.next() % 4) : Int(generator.next() % 2)
        let configuration = try ChunkerConfiguration(
            variant: round % 2 == 0 ? .v2016 : .v2020, minimumSize: minimum, averageSize: average,
            maximumSize: maximum, normalization: level, seed: round % 3 == 0 ? generator.next() : 0)
        for input in Self.inputs(seed: generator.next()) {
            let reference = Self.lengths(input, configuration, kernel: .scalar)
            #expect(Self.lengths(input, configuration, kernel: .lanes) == reference)
            let pieces = TestCorpus.randomSplits(input, largest: 1 + Int(generator.next() % 70_000), seed: 7)
            #expect(Self.lengths(input, configuration, kernel: .lanes, pieces: pieces) == reference)
        }
    }

    @Test("the C baseline loop reproduces every vector, with its hashes", arguments: FastCDCVectorTests.cases)
    func cBaseline(vector: VectorCase) throws {
        let input = try Fixtures.input(for: vector.input)
        var state = replica_fastcdc_baseline()
        let status = replica_fastcdc_baseline_init(
            &state, vector.version == "2016" ? 2016 : 2020, vector.min, vector.avg, vector.max,
            Int32(vector.normalization ?? 1), vector.seed ?? 0)
        try #require(status == 0)
        var offset = 0
        var found: [(offset: Int, length: Int, hash: UInt64)] = []
        input.withUnsafeBufferPointer { buffer in
            while offset < buffer.count {
                var hash: UInt64 = 0
                let length = replica_fastcdc_baseline_cut(
                    &state, buffer.baseAddress.map { $0 + offset }, buffer.count - offset, &hash)
                found.append((offset, length, hash))
                offset += length
            }
        }
        #expect(found.map(\.length) == vector.chunks.map(\.length))
        for (got, expected) in zip(found, vector.chunks) {
            #expect(got.hash == UInt64(try #require(expected.gear_hash_hex).dropFirst(2), radix: 16))
        }
    }
}
