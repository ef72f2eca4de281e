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

// The bounded-decode example of docs/EMBEDDING.md, verbatim.
func receive(_ wire: [UInt8]) throws -> [UInt8] {
    // At most 256 MiB of decoder memory and 16 MiB of output, whatever the stream claims.
    let options = try DecoderOptions(memoryLimit: 256 << 20)
    do {
        return try Replica.decompress(wire, maximumOutputSize: 16 << 20, options: options)
    } catch let error as FormatError where error.code == .outputLimitExceeded || error.code == .limitExceeded {
        print("refused at offset \(error.offset): \(error.message)")
        throw error
    }
}

@Suite("docs/EMBEDDING.md")
struct EmbeddingExampleTests {
    @Test("the embedding example round-trips")
    func example() throws {
        let data = TestCorpus.redundant(2 << 20)
        let pieces = TestCorpus.randomSplits(data, largest: 200_000, seed: 3).map { Array($0) }
        #expect(try replicate(pieces) == data)
    }

    @Test("the documented examples are the tested ones", arguments: ["func replicate(", "func receive("])
    func documentMatches(function: String) throws {
        let doc = try String(contentsOfFile: #filePath.replacingOccurrences(
            of: "Tests/ReplicaCoreTests/EmbeddingExampleTests.swift", with: "docs/EMBEDDING.md"), encoding: .utf8)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let start = try #require(source.range(of: function))
        let end = try #require(source.range(of: "\n}\n", range: start.upperBound..<source.endIndex))
        #expect(doc.contains(String(source[start.lowerBound..<end.upperBound])))
    }

    @Test("the bound promises: output past the bound and headers needing more memory are refused with their codes")
    func boundPromises() throws {
        let small = TestCorpus.text(100_000)
        let narrow = try EncoderConfiguration(windowSize: 16 << 20)
        #expect(try receive(Replica.compress(small, configuration: narrow)) == small)

        // 32 MiB of content from a stream of a few hundred KiB: past the 16 MiB output bound.
        let block = TestCorpus.random(1 << 20, seed: 11)
        let large = [[UInt8]](repeating: block, count: 32).flatMap { $0 }
        let expanding = try Replica.compress(large, configuration: EncoderConfiguration(windowSize: 4 << 20))
        #expect(expanding.count < 2 << 20)
        let output = try #require(throws: FormatError.self) { try receive(expanding) }
        #expect(output.code == .outputLimitExceeded)

        // The default 256 MiB window needs more than the 64 MiB memory limit: refused at the header.
        let wide = try Replica.compress(small, configuration: EncoderConfiguration())
        let memory = try #require(throws: FormatError.self) {
            try Replica.decompress(wide, maximumOutputSize: 1 << 20, options: DecoderOptions(memoryLimit: 64 << 20))
        }
        #expect(memory.code == .limitExceeded && memory.offset == 32)

        // The whole-buffer API never trusts the trailer: a valid stream that lies only in its trailer is refused.
        #expect(throws: FormatError.self) {
            try Replica.decompress(Array(wide.dropLast(32)) + Array(expanding.suffix(32)), maximumOutputSize: 1 << 20)
        }
    }
}
