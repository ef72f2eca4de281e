import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// `info`, `-v` and `chunk` agree with the library's own counters and chunker.
@Suite("replica info, -v and chunk against the library")
struct CountersTests {
    static let sample = TestCorpus.redundant(2 << 20, uniqueFraction: 0.3, segment: 40 << 10, seed: 21)

    /// The library's counters for `sample` under the default configuration, encoded in 1 MiB pieces.
    static func libraryStatistics() throws -> StreamStatistics {
        let encoder = try StreamEncoder(configuration: EncoderConfiguration())
        var output: [UInt8] = []
        for start in stride(from: 0, to: sample.count, by: 1 << 20) {
            try encoder.encode(Array(sample[start..<min(sample.count, start + (1 << 20))]), into: &output)
        }
        try encoder.finish(into: &output)
        return encoder.statistics
    }

    @Test("info --json and info report the library's counters")
    func info() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("s.bin", Self.sample)
        #expect(try cli.run(["s.bin"]).status == 0)
        let expected = try Self.libraryStatistics()
        let outcome = try cli.run(["info", "--json", "s.bin.rpl"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(outcome.stdout)) as? [String: Any])
        let counters: [(String, UInt64)] = [
            ("contentBytes", expected.contentBytes), ("encodedBytes", expected.encodedBytes),
            ("chunks", expected.chunks), ("literalChunks", expected.literalChunks),
            ("literalBytes", expected.literalBytes), ("windowReferences", expected.windowReferences),
            ("windowReferenceBytes", expected.windowReferenceBytes), ("storeReferences", expected.storeReferences),
            ("blocks", expected.blocks), ("rawBlocks", expected.rawBlocks),
        ]
        for (key, value) in counters {
            #expect((object[key] as? NSNumber)?.uint64Value == value, "\(key)")
        }
        #expect(UInt64(try cli.read("s.bin.rpl").count) == expected.encodedBytes)
        #expect(object["file"] as? String == "s.bin.rpl")
        #expect(object["codec"] as? String == "zstd" && (object["codecLevel"] as? Int) == 3)
        #expect((object["averageChunkSize"] as? Int) == 8192 && (object["windowSize"] as? Int) == 256 << 20)
        #expect(object["storeID"] is NSNull)
        #expect(expected.windowReferences > 0, "the sample has repeats")

        let text = try cli.run(["info", "s.bin.rpl"]).stdoutText
        #expect(text.hasPrefix("s.bin.rpl\n  format version  3\n  chunker         FastCDC 2020, min 2048 / avg 8192 "))
        #expect(text.contains("\n  original size   \(expected.contentBytes) bytes"))
        #expect(text.contains("\n  encoded size    \(expected.encodedBytes) bytes"))
        #expect(
            text.contains(
                "\n  chunks          \(expected.chunks): \(expected.literalChunks) literal, "
                    + "\(expected.windowReferences) window references, 0 store references\n"))
    }

    @Test("-v prints one summary line per file with the library's sizes")
    func verbose() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("s.bin", Self.sample)
        let expected = try Self.libraryStatistics()
        let compressed = try cli.run(["-v", "s.bin"])
        let prefix = "s.bin -> s.bin.rpl: \(expected.contentBytes) -> \(expected.encodedBytes) bytes, ratio "
        #expect(compressed.stderr.hasPrefix(prefix), "\(compressed.stderr)")
        let dedup = (expected.deduplicatedChunkFraction * 1000).rounded() / 10
        #expect(compressed.stderr.contains(", \(dedup)% of chunks deduplicated, "), "\(compressed.stderr)")
        #expect(compressed.stderr.hasSuffix(" MB/s\n") && compressed.stderr.split(separator: "\n").count == 1)
        let decompressed = try cli.run(["-d", "-v", "-c", "s.bin.rpl"])
        #expect(
            decompressed.stderr.hasPrefix(
                "s.bin.rpl -> stdout: \(expected.encodedBytes) -> \(expected.contentBytes) bytes, ratio "))
        let tested = try cli.run(["test", "-v", "s.bin.rpl"])
        #expect(
            tested.stdoutText.hasPrefix("s.bin.rpl: OK, \(expected.encodedBytes) -> \(expected.contentBytes) bytes"))
    }

    @Test(
        "chunk prints the library chunker's cuts with XXH3-128 fingerprints",
        arguments: [
            ([], try ChunkerConfiguration(averageSize: 8192)),
            (["--variant", "2016", "--avg", "4K"], try ChunkerConfiguration(averageSize: 4096, variant: .v2016)),
            (
                ["--min", "1K", "--avg", "2K", "--max", "64K", "--level", "2", "--seed", "0x2a"],
                try ChunkerConfiguration(
                    minimumSize: 1024, averageSize: 2048, maximumSize: 65536, normalization: 2, seed: 42)
            ),
        ])
    func chunk(arguments: [String], configuration: ChunkerConfiguration) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("s.bin", Self.sample)
        let outcome = try cli.run(["chunk"] + arguments + ["s.bin"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        var expected: [String] = []
        var offset = 0
        var chunker = Chunker(configuration)
        let fingerprinter = Fingerprinter()
        let record = { (chunk: UnsafeRawBufferPointer) in
            expected.append(
                "{\"offset\":\(offset),\"length\":\(chunk.count),\"fingerprint\":\"\(fingerprinter.fingerprint(chunk))\"}"
            )
            offset += chunk.count
        }
        Self.sample.withUnsafeBytes { chunker.append($0, record) }
        chunker.finish(record)
        #expect(outcome.stdoutText.split(separator: "\n").map(String.init) == expected)
        #expect(offset == Self.sample.count)
    }
}
