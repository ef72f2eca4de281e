import Foundation
import ReplicaCore

/// A round trip that did not give back its input.
struct RoundTripMismatch: Error, CustomStringConvertible {
    /// Which engine on which input, and how the output differed.
    let description: String
}

/// Measures the Replica engine on one buffer: each stage alone, then the whole encoder and decoder.
struct ReplicaRunner {
    /// The configuration under test.
    private(set) var configuration: EncoderConfiguration
    /// The engine's name in reports, for example `replica-zstd-3`.
    let name: String

    /// Input is fed to the encoder and the decoder in pieces of this size, as a stream would arrive.
    static let pieceSize = 1 << 20

    /// A runner for a codec at the default chunking, or at `averageChunkSize` when given.
    init(codec: CodecConfiguration, averageChunkSize: Int? = nil) throws {
        var configuration = try EncoderConfiguration(codec: codec)
        var name = "replica-" + Self.codecName(codec)
        if let averageChunkSize {
            configuration = try EncoderConfiguration(
                chunker: ChunkerConfiguration(averageSize: averageChunkSize), codec: codec)
            name += "-avg\(averageChunkSize >> 10)K"
        }
        self.configuration = configuration
        self.name = name
    }

    /// The default of format version 1: zstd level 3 without a long-distance window, one store reference per
    /// stored chunk. Named `replica-zstd-3-v1`.
    static func previousDefault() throws -> ReplicaRunner {
        var runner = try ReplicaRunner(codec: CodecConfiguration(.zstd, level: 3, longWindowLog: nil))
        let codec = runner.configuration.codec
        runner.configuration = try EncoderConfiguration(codec: codec, storeRuns: false)
        return runner
    }

    /// `lz4-1`, `zstd-3` or `none`; `zstd-3-v1` for zstd without its long window (format 1's default).
    static func codecName(_ codec: CodecConfiguration) -> String {
        codec.kind == .none ? "none" : "\(codec.kind)-\(codec.level)" + (codec.kind == .zstd && codec.longWindowLog == nil ? "-v1" : "")
    }

    /// Measures `data`: chunking and fingerprinting alone when `stages`, then encode and decode, checking
    /// every decoded run against the input.
    ///
    /// - Throws: ``RoundTripMismatch`` when a decode differs from the input; engine errors as they come.
    func run(section: String, corpus: String, data: [UInt8], policy: RunPolicy, stages: Bool) throws -> ResultRow {
        var row = ResultRow(section: section, corpus: corpus, engine: name, inputBytes: data.count)
        if stages {
            let (chunking, lengths) = try measure(bytes: data.count, policy: policy) { chunkLengths(data) }
            row.chunking = chunking
            row.chunks = lengths.count
            row.fingerprinting = try measureFingerprinting(data, lengths: lengths, policy: policy)
        }
        let (encode, encoded) = try measureEncode(data, policy: policy)
        row.encode = encode
        row.outputBytes = encoded.bytes.count
        row.ratio = encoded.statistics.ratio
        row.deduplicatedPercent = 100 * encoded.statistics.deduplicatedByteFraction
        row.chunks = Int(encoded.statistics.chunks)
        row.decode = try measureDecode(encoded.bytes, expecting: data, corpus: corpus, policy: policy)
        row.peakRSSBytes = peakResidentBytes()
        return row
    }

    /// The lengths of the chunks of `data`, cut by a streaming ``Chunker`` over the whole buffer.
    func chunkLengths(_ data: [UInt8]) -> [Int] {
        var chunker = Chunker(configuration.chunker)
        var lengths: [Int] = []
        lengths.reserveCapacity(data.count / configuration.chunker.averageSize * 2 + 1)
        data.withUnsafeBytes { buffer in
            chunker.append(buffer) { lengths.append($0.count) }
            chunker.finish { lengths.append($0.count) }
        }
        return lengths
    }

    /// Times fingerprinting every chunk of `data` on its own, as the encoder does.
    func measureFingerprinting(_ data: [UInt8], lengths: [Int], policy: RunPolicy) throws -> Throughput {
        let fingerprinter = configuration.fingerprinter
        return try measure(bytes: data.count, policy: policy) { () -> UInt64 in
            data.withUnsafeBytes { buffer in
                var offset = 0
                var mix: UInt64 = 0
                for length in lengths {
                    mix ^= fingerprinter.fingerprint(UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])).low
                    offset += length
                }
                return mix
            }
        }.0
    }

    /// Times encoding `data` as one self-contained stream, fed in ``pieceSize`` pieces.
    func measureEncode(
        _ data: [UInt8], policy: RunPolicy
    ) throws -> (Throughput, (bytes: [UInt8], statistics: StreamStatistics)) {
        var output: [UInt8] = []
        output.reserveCapacity(data.count + data.count / 64 + 4096)
        let (throughput, statistics) = try measure(bytes: data.count, policy: policy) { () -> StreamStatistics in
            output.removeAll(keepingCapacity: true)
            let encoder = try StreamEncoder(configuration: configuration)
            try data.withUnsafeBytes { buffer in
                for start in stride(from: 0, to: buffer.count, by: Self.pieceSize) {
                    let end = min(start + Self.pieceSize, buffer.count)
                    try encoder.encode(UnsafeRawBufferPointer(rebasing: buffer[start..<end]), into: &output)
                }
            }
            try encoder.finish(into: &output)
            return encoder.statistics
        }
        return (throughput, (output, statistics))
    }

    /// Times decoding `encoded`, fed in ``pieceSize`` pieces, and checks every run's output against `expected`.
    func measureDecode(_ encoded: [UInt8], expecting expected: [UInt8], corpus: String, policy: RunPolicy) throws
        -> Throughput
    {
        var output: [UInt8] = []
        output.reserveCapacity(expected.count)
        return try measure(bytes: expected.count, policy: policy) {
            output.removeAll(keepingCapacity: true)
            let decoder = try StreamDecoder(options: DecoderOptions())
            try encoded.withUnsafeBytes { buffer in
                for start in stride(from: 0, to: buffer.count, by: Self.pieceSize) {
                    let end = min(start + Self.pieceSize, buffer.count)
                    try decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[start..<end]), into: &output)
                }
            }
            try decoder.finish()
        } verify: {
            try checkRoundTrip(output, expected, what: "\(name) on \(corpus)")
        }.0
    }
}

/// Throws ``RoundTripMismatch`` naming `what` and the first differing offset unless `actual == expected`.
func checkRoundTrip(_ actual: [UInt8], _ expected: [UInt8], what: String) throws {
    let equal =
        actual.count == expected.count
        && actual.withUnsafeBytes { left in
            expected.withUnsafeBytes { right in
                guard let leftBase = left.baseAddress, let rightBase = right.baseAddress else { return true }
                return memcmp(leftBase, rightBase, left.count) == 0
            }
        }
    guard !equal else { return }
    let common = min(actual.count, expected.count)
    let first = (0..<common).first { actual[$0] != expected[$0] } ?? common
    throw RoundTripMismatch(
        description: "\(what): round trip gave \(actual.count) bytes for \(expected.count), first difference at \(first)")
}
