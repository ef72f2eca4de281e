import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// One case of the golden FastCDC vectors (see Fixtures/README.md).
struct VectorCase: Decodable, CustomTestStringConvertible {
    struct Chunk: Decodable {
        let offset: Int
        let length: Int
        let gear_hash_hex: String?
    }
    let version: String
    let min: Int
    let avg: Int
    let max: Int
    let normalization: Int?
    let seed: UInt64?
    let input: String?
    let chunks: [Chunk]
    var file = ""

    var testDescription: String {
        "\(file) v\(version) \(min)/\(avg)/\(max) nc\(normalization ?? 1) seed \(seed ?? 0) \(input ?? "file")"
    }

    /// The chunker configuration the case describes; fastcdc-rs's default normalisation is 1.
    func configuration() throws -> ChunkerConfiguration {
        try ChunkerConfiguration(
            variant: version == "2016" ? .v2016 : .v2020, minimumSize: min, averageSize: avg, maximumSize: max,
            normalization: normalization ?? 1, seed: seed ?? 0)
    }

    enum CodingKeys: String, CodingKey {
        case version, min, avg, max, normalization, seed, input, chunks
    }
}

enum Fixtures {
    static func url(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }

    /// The FastCDC 2016 and 2020 cases of both vector files; the `ronomon` cases are another algorithm.
    static func fastCDCCases() throws -> [VectorCase] {
        struct File: Decodable { let cases: [VectorCase] }
        var all: [VectorCase] = []
        for name in ["fastcdc-vectors.json", "fastcdc-vectors-derived.json"] {
            let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url(name)))
            all += file.cases.filter { $0.version != "ronomon" }.map { var item = $0; item.file = name; return item }
        }
        return all
    }

    static func input(for spec: String?) throws -> [UInt8] {
        let image = try bytes("SekienAkashita.jpg")
        guard let spec else { return image }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        switch parts[0] {
        case "zeros": return [UInt8](repeating: 0, count: try #require(Int(parts[1])))
        case "file-prefix": return Array(image.prefix(try #require(Int(parts[1]))))
        case "splitmix64":
            let numbers = parts[1].split(separator: "/").compactMap { UInt64($0) }
            var generator = SplitMix64(seed: numbers[0])
            return generator.bytes(Int(numbers[1]))
        default:
            Issue.record("unknown input spec \(spec)")
            return []
        }
    }
}

@Suite("FastCDC golden vectors")
struct FastCDCVectorTests {
    static let cases = (try? Fixtures.fastCDCCases()) ?? []

    @Test("the vector files hold the expected number of 2016/2020 cases")
    func caseCount() throws {
        #expect(try Fixtures.fastCDCCases().count == 13 + 30)
    }

    @Test("chunk boundaries and hashes match the reference port", arguments: cases)
    func matchesReference(_ vector: VectorCase) throws {
        let configuration = try vector.configuration()
        let input = try Fixtures.input(for: vector.input)
        let cutter = FastCDC(configuration)
        var offset = 0
        var found: [(offset: Int, length: Int, hash: UInt64)] = []
        input.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let cut = cutter.cut(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                found.append((offset, cut.length, cut.hash))
                offset += cut.length
            }
        }
        #expect(found.count == vector.chunks.count)
        for (got, expected) in zip(found, vector.chunks) {
            #expect(got.offset == expected.offset)
            #expect(got.length == expected.length)
            #expect(got.hash == UInt64(try #require(expected.gear_hash_hex).dropFirst(2), radix: 16))
        }
    }

    @Test("the streaming chunker reproduces every vector when fed in random pieces", arguments: cases)
    func streamingMatchesReference(_ vector: VectorCase) throws {
        let configuration = try vector.configuration()
        let input = try Fixtures.input(for: vector.input)
        var chunker = Chunker(configuration)
        var lengths: [Int] = []
        for piece in TestCorpus.randomSplits(input, largest: 3000, seed: UInt64(vector.avg)) {
            piece.withUnsafeBytes { chunker.append($0) { lengths.append($0.count) } }
        }
        chunker.finish { lengths.append($0.count) }
        #expect(lengths == vector.chunks.map(\.length))
    }
}
