import ArgumentParser
import ReplicaCore

/// `replica demo`: the main job on an embedded sample. Compresses a built-in, deterministic sample with the
/// default configuration, decompresses it, verifies the round trip and prints ratio and throughput.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Compress and decompress a built-in sample; print ratio and MB/s.",
        discussion: "Example: replica demo   (exits 1 if the round trip fails)")

    func run() throws {
        let corpus = DemoCorpus.standard
        let sample = corpus.generate()
        let configuration = try EncoderConfiguration()
        let clock = ContinuousClock()

        let encoder = try StreamEncoder(configuration: configuration)
        var encoded: [UInt8] = []
        let encodeTime = try clock.measure {
            for start in stride(from: 0, to: sample.count, by: StreamPump.pieceSize) {
                try encoder.encode(
                    Array(sample[start..<min(sample.count, start + StreamPump.pieceSize)]), into: &encoded)
            }
            try encoder.finish(into: &encoded)
        }

        let decoder = try StreamDecoder()
        var decoded: [UInt8] = []
        let decodeTime = try clock.measure {
            for start in stride(from: 0, to: encoded.count, by: StreamPump.pieceSize) {
                try decoder.decode(
                    Array(encoded[start..<min(encoded.count, start + StreamPump.pieceSize)]), into: &decoded)
            }
            try decoder.finish()
        }

        let statistics = encoder.statistics
        let chunker = configuration.chunker
        let output = TextOutput()
        let seed = String(corpus.seed, radix: 16)
        let average = TextFormat.bytes(UInt64(chunker.averageSize))
        try output.line(
            "replica demo: \(corpus.versions) versions of a generated service log (seed 0x\(seed)), default "
                + "configuration: FastCDC \(chunker.variant.rawValue) avg \(average), \(configuration.codec), "
                + "\(TextFormat.bytes(UInt64(configuration.windowSize))) window")
        let rows: [(String, String)] = [
            ("input", "\(statistics.contentBytes) bytes (\(TextFormat.bytes(statistics.contentBytes)))"),
            ("encoded", "\(statistics.encodedBytes) bytes (\(TextFormat.bytes(statistics.encodedBytes)))"),
            ("ratio", TextFormat.fixed(statistics.ratio, digits: 2)),
            (
                "deduplicated",
                "\(TextFormat.percent(statistics.deduplicatedChunkFraction)) of chunks, "
                    + "\(TextFormat.percent(statistics.deduplicatedByteFraction)) of bytes"
            ),
            ("encode", TextFormat.rate(statistics.contentBytes, over: encodeTime)),
            ("decode", TextFormat.rate(statistics.contentBytes, over: decodeTime)),
        ]
        for (name, value) in rows {
            try output.line("  " + name + String(repeating: " ", count: 14 - name.count) + value)
        }
        let intact = decoded == sample
        try output.line(
            "  round trip    " + (intact ? "OK, \(decoded.count) bytes identical" : "FAILED: output differs"))
        try output.flush()
        guard intact else { throw ExitCode.failure }
    }
}
