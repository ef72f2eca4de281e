import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

// The example of docs/EMBEDDING.md, verbatim, so the documentation cannot rot.
func replicate(_ pieces: [[UInt8]]) throws -> [UInt8] {
    // Sender: FastCDC at 8 KiB, zstd level 3, a 64 MiB reference window.
    let configuration = try EncoderConfiguration(
        chunker: ChunkerConfiguration(averageSize: 8 << 10),
        codec: CodecConfiguration(.zstd, level: 3),
        windowSize: 64 << 20)
    let encoder = try StreamEncoder(configuration: configuration)
    var wire: [UInt8] = []
    for piece in pieces {
        try encoder.encode(piece, into: &wire)  // appends whole blocks as they complete
    }
    try encoder.finish(into: &wire)             // last block and the trailer

    // Receiver: refuses streams that need more than 256 MiB of memory.
    let decoder = try StreamDecoder(options: DecoderOptions(memoryLimit: 256 << 20))
    var received: [UInt8] = []
    for start in stride(from: 0, to: wire.count, by: 1500) {  // any split works, down to one byte
        let packet = Array(wire[start..<min(start + 1500, wire.count)])
        try decoder.decode(packet, into: &received)  // appends only verified content
    }
    try decoder.finish()                        // throws if the stream was cut short

    let stats = encoder.statistics
    print("\(stats.contentBytes) bytes in \(stats.encodedBytes) on the wire, "
        + "\(Int(stats.deduplicatedByteFraction * 100))% deduplicated")
    return received
}

@Suite("docs/EMBEDDING.md")
struct EmbeddingExampleTests {
    @Test("the embedding example round-trips")
    func example() throws {
        let data = TestCorpus.redundant(2 << 20)
        let pieces = TestCorpus.randomSplits(data, largest: 200_000, seed: 3).map { Array($0) }
        #expect(try replicate(pieces) == data)
    }

    @Test("the documented example is the tested one")
    func documentMatches() throws {
        let doc = try String(contentsOfFile: #filePath.replacingOccurrences(
            of: "Tests/ReplicaCoreTests/EmbeddingExampleTests.swift", with: "docs/EMBEDDING.md"), encoding: .utf8)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let start = try #require(source.range(of: "func replicate("))
        let end = try #require(source.range(of: "\n}\n", range: start.upperBound..<source.endIndex))
        #expect(doc.contains(String(source[start.lowerBound..<end.upperBound])))
    }
}
