import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("Chunker")
struct ChunkerTests {
    static func chunkLengths(_ input: [UInt8], _ configuration: ChunkerConfiguration, pieces: [ArraySlice<UInt8>])
        -> [Int]
    {
        var chunker = Chunker(configuration)
        var lengths: [Int] = []
        for piece in pieces { piece.withUnsafeBytes { chunker.append($0) { lengths.append($0.count) } } }
        chunker.finish { lengths.append($0.count) }
        return lengths
    }

    @Test(
        "boundaries do not depend on how the input is split",
        arguments: [(ChunkerConfiguration.Variant.v2016, 1), (.v2016, 7), (.v2020, 1), (.v2020, 64), (.v2020, 70_000)])
    func splitIndependence(variant: ChunkerConfiguration.Variant, largestPiece: Int) throws {
        let configuration = try ChunkerConfiguration(
            variant: variant, minimumSize: 513, averageSize: 2048, maximumSize: 8191, normalization: 2)
        let input = TestCorpus.random(200_000, seed: 11) + TestCorpus.text(100_000) + [UInt8](repeating: 7, count: 30_000)
        let whole = Self.chunkLengths(input, configuration, pieces: [input[...]])
        #expect(whole.reduce(0, +) == input.count)
        for seed in 1...5 as ClosedRange<UInt64> {
            let pieces = TestCorpus.randomSplits(input, largest: largestPiece, seed: seed)
            #expect(Self.chunkLengths(input, configuration, pieces: pieces) == whole)
        }
    }

    @Test("random settings: lengths stay within min and max and cover the input")
    func randomSettingsRespectLimits() throws {
        var generator = SplitMix64(seed: 99)
        for _ in 0..<40 {
            let average = 64 << Int(generator.next() % 10)
            let minimum = max(16, average / (1 + Int(generator.next() % 8)))
            let maximum = average * (1 + Int(generator.next() % 8))
            let level = average >= 256 ? Int(generator.next() % 4) : 1
            let variant: ChunkerConfiguration.Variant = generator.next() % 2 == 0 ? .v2016 : .v2020
            let configuration = try ChunkerConfiguration(
                variant: variant, minimumSize: minimum, averageSize: average, maximumSize: maximum,
                normalization: level, seed: generator.next() % 3 == 0 ? generator.next() : 0)
            let input = TestCorpus.random(Int(generator.next() % 300_000), seed: generator.next())
            let lengths = Self.chunkLengths(input, configuration, pieces: TestCorpus.randomSplits(
                input, largest: 9000, seed: generator.next()))
            #expect(lengths.reduce(0, +) == input.count)
            #expect(lengths.allSatisfy { $0 <= maximum && $0 > 0 })
            // All but the last chunk are at least min - 1 (v2020 with an odd minimum cuts one byte early).
            #expect(lengths.dropLast().allSatisfy { $0 >= minimum - 1 })
        }
    }

    @Test("a seed changes the boundaries")
    func seedChangesBoundaries() throws {
        let input = TestCorpus.random(300_000, seed: 5)
        let plain = try ChunkerConfiguration(averageSize: 4096)
        let seeded = try ChunkerConfiguration(averageSize: 4096, seed: 0x5EED)
        #expect(Self.chunkLengths(input, plain, pieces: [input[...]])
            != Self.chunkLengths(input, seeded, pieces: [input[...]]))
    }

    @Test("the defaults are what the checked initialisers build")
    func defaultIsValid() throws {
        #expect(ChunkerConfiguration.default == (try ChunkerConfiguration(averageSize: 8 << 10)))
        #expect(CodecConfiguration.default == (try CodecConfiguration(.zstd, level: 3)))
    }

    @Test("invalid settings are refused with the setting's name")
    func invalidSettings() {
        func setting(_ body: () throws -> ChunkerConfiguration) -> String? {
            do {
                _ = try body()
                return nil
            } catch {
                return (error as? ConfigurationError)?.setting ?? "\(error)"
            }
        }
        #expect(setting { try ChunkerConfiguration(minimumSize: 5000, averageSize: 4096, maximumSize: 9000) }
            == "minimumSize")
        #expect(setting { try ChunkerConfiguration(minimumSize: 1000, averageSize: 4096, maximumSize: 4000) }
            == "maximumSize")
        #expect(setting { try ChunkerConfiguration(minimumSize: 16, averageSize: 32, maximumSize: 64) }
            == "averageSize")
        #expect(setting { try ChunkerConfiguration(minimumSize: 1 << 20, averageSize: 8 << 20, maximumSize: 9 << 20) }
            == "averageSize")
        #expect(setting { try ChunkerConfiguration(minimumSize: 8, averageSize: 64, maximumSize: 256) }
            == "minimumSize")
        #expect(setting { try ChunkerConfiguration(minimumSize: 16, averageSize: 64, maximumSize: 256, normalization: 2) }
            == "normalization")
        #expect(setting { try ChunkerConfiguration(minimumSize: 64, averageSize: 256, maximumSize: 1 << 25) }
            == "maximumSize")
        #expect(setting { try ChunkerConfiguration(averageSize: 64) } == nil)
        #expect(setting { try ChunkerConfiguration(averageSize: 4 << 20) } == nil)
    }
}

@Suite("Flushes that keep the chunker's state")
struct ChunkerFlushTests {
    /// The chunk boundaries (end offsets) of `input` fed in `pieces`, with `flushPending` after each piece.
    static func boundaries(_ input: [UInt8], pieces: [Int]) throws -> (ends: [Int], flushes: Set<Int>) {
        var chunker = Chunker(try ChunkerConfiguration(averageSize: 2048))
        var ends: [Int] = []
        var flushes: Set<Int> = []
        var position = 0
        var fed = 0
        var index = 0
        try input.withUnsafeBytes { buffer in
            while fed < buffer.count {
                let size = min(pieces[index % pieces.count], buffer.count - fed)
                index += 1
                chunker.append(UnsafeRawBufferPointer(rebasing: buffer[fed..<(fed + size)])) { chunk in
                    position += chunk.count
                    ends.append(position)
                }
                fed += size
                chunker.flushPending { chunk in
                    position += chunk.count
                    ends.append(position)
                }
                #expect(position == fed, "a flush hands out everything fed so far")
                flushes.insert(fed)
            }
            chunker.finish { chunk in
                position += chunk.count
                ends.append(position)
            }
            _ = try #require(position == buffer.count ? position : nil)
        }
        return (ends, flushes)
    }

    @Test("flushes add only their own cut points: the content-defined boundaries stay", arguments: [
        [100, 3000], [4096], [65536], [777, 13, 20_000],
    ])
    func boundariesSurviveFlushes(pieces: [Int]) throws {
        let input = TestCorpus.text(300_000, seed: 8) + TestCorpus.random(100_000, seed: 9)
        let reference = try Self.boundaries(input, pieces: [input.count]).ends
        let (ends, flushes) = try Self.boundaries(input, pieces: pieces)
        #expect(Set(reference).isSubset(of: Set(ends)), "every content-defined boundary is kept")
        #expect(Set(ends).subtracting(reference).isSubset(of: flushes), "the only other cuts are flush points")
    }
}
