import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// Memory stays bounded on hostile ratios, and store-backed streams need their store.
@Suite("replica streaming")
struct StreamingTests {
    @Test("512 MiB of zeros (a 16 KB stream) decompresses under a 256 MB address-space limit")
    func boundedDecoderOutput() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        // A few bytes of references stand for megabytes: content must leave in bounded pieces, not per read.
        let outcome = try cli.shell(
            "set -o pipefail; head -c 512M /dev/zero | \"$REPLICA\" -c --window 1M > zeros.rpl"
                + " && (ulimit -v 262144; \"$REPLICA\" -dc zeros.rpl | wc -c)")
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "\(512 << 20)")
        #expect(try cli.read("zeros.rpl").count < 1 << 20)
    }

    @Test(
        "StreamDecoder.decode(_:pieceSize:deliver:) delivers the stream's content in bounded pieces",
        arguments: [
            (TestCorpus.redundant(1 << 20, seed: 12), 64 << 10), ([UInt8](repeating: 0, count: 12 << 20), 256 << 10),
            (TestCorpus.random(256 << 10, seed: 13), 1),
        ])
    func boundedDeliveries(content: [UInt8], pieceSize: Int) throws {
        let configuration = try EncoderConfiguration()
        let stream = try Replica.compress(content, configuration: configuration)
        let decoder = try StreamDecoder()
        var delivered: [UInt8] = []
        var largest = 0
        for start in stride(from: 0, to: stream.count, by: 1 << 20) {
            let piece = Array(stream[start..<min(stream.count, start + (1 << 20))])
            try piece.withUnsafeBytes { bytes in
                try decoder.decode(bytes, pieceSize: pieceSize) { output in
                    largest = max(largest, output.count)
                    delivered += output
                }
            }
        }
        try decoder.finish()
        #expect(delivered == content)
        // One block's output at most past the piece size: 8 x the block size plus the largest chunk.
        let blockOutput = configuration.blockSize * 8 + configuration.chunker.maximumSize
        #expect(largest <= pieceSize + blockOutput, "largest delivery \(largest)")
    }

    @Test("a store-backed stream: test and info need --store, and agree with it")
    func storeBacked() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let sample = TestCorpus.redundant(1 << 20, seed: 30)
        try cli.write("a.bin", sample)
        let compressed = try cli.run(["--store", "chunks", "a.bin"])
        #expect(compressed.status == 0, "\(compressed.stderr)")
        let without = try cli.run(["test", "a.bin.rpl"])
        #expect(without.status == 1)
        #expect(without.stderr.hasPrefix("replica: a.bin.rpl: wrong chunk store at offset 40: "), "\(without.stderr)")
        let tested = try cli.run(["test", "--store", "chunks", "a.bin.rpl"])
        #expect(tested.status == 0 && tested.stdoutText == "a.bin.rpl: OK\n", "\(tested.stderr)")
        let info = try cli.run(["info", "--json", "--store", "chunks", "a.bin.rpl"])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdoutText.contains("\"storeID\":\""))
        #expect(info.stdoutText.contains("\"contentBytes\":\(sample.count),"))
    }
}
