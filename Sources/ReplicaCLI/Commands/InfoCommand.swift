import ArgumentParser
import ReplicaCore

/// `replica info`: a stream's format, parameters, sizes and counters, read by decoding the whole stream.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the parameters, sizes and counters of .rpl files.",
        discussion: "Example: replica info --json big.log.rpl")

    @Flag(help: "One JSON object per line and file.")
    var json = false

    @OptionGroup
    var options: StreamReading.Options

    @Argument(help: "Files to inspect; none or - reads stdin.")
    var files: [String] = []

    func run() throws {
        let output = TextOutput()
        let succeeded = try StreamReading.forEach(files, options: options) { result in
            let transform = result.transform
            guard let header = transform.header else {
                throw FileError(path: result.input.displayName, message: "the stream has no header")
            }
            let report = StreamReport(
                name: result.input.displayName, header: header, streams: transform.streams,
                statistics: transform.statistics)
            for line in json ? [report.json] : report.lines { try output.line(line) }
            try output.flush()
        }
        guard succeeded else { throw ExitCode.failure }
    }
}

/// What `info` prints about one file, as aligned text or as one JSON object whose keys are the names of
/// ``StreamHeader`` and ``StreamStatistics`` properties. For concatenated streams the parameters are the
/// first stream's and the counters are summed.
struct StreamReport {
    let name: String
    let header: StreamHeader
    let streams: Int
    let statistics: StreamStatistics

    private var fingerprintName: String {
        header.fingerprintKind == .keyedXXH3 ? "keyed XXH3-128" : "XXH3-128"
    }

    private var codecName: String {
        header.codec == .none
            ? "none"
            : "\(header.codec) level \(header.codecLevel)"
                + (header.zstdWindowLog.map { ", long-distance window 2^\($0) bytes" } ?? "")
    }

    /// The human-readable form: the name, then one aligned `field  value` line each.
    var lines: [String] {
        let s = statistics
        let seeded = header.flags.contains(.seededChunker) ? ", seeded" : ""
        let concatenated = streams > 1 ? [("streams", "\(streams), concatenated; parameters of the first")] : []
        let fields: [(String, String)] =
            concatenated + [
                ("format version", "\(header.version)"),
                (
                    "chunker",
                    "FastCDC \(header.chunkerVariant.rawValue), min \(header.minimumChunkSize) / avg "
                        + "\(header.averageChunkSize) / max \(header.maximumChunkSize) bytes, "
                        + "normalization \(header.normalization)\(seeded)"
                ),
                ("codec", codecName),
                ("window", "\(header.windowSize) bytes (\(TextFormat.bytes(UInt64(header.windowSize))))"),
                ("block size", "\(header.blockSize) bytes"),
                ("fingerprints", fingerprintName),
                ("store", header.flags.contains(.storeBacked) ? header.storeID.description : "none"),
                ("original size", "\(s.contentBytes) bytes (\(TextFormat.bytes(s.contentBytes)))"),
                ("encoded size", "\(s.encodedBytes) bytes (\(TextFormat.bytes(s.encodedBytes)))"),
                ("ratio", TextFormat.fixed(s.ratio, digits: 2)),
                (
                    "chunks",
                    "\(s.chunks): \(s.literalChunks) literal, \(s.windowReferences) window references, "
                        + "\(s.storeReferences) store references"
                        + (s.storeRuns > 0 ? " (\(s.storeRuns) runs)" : "")
                ),
                (
                    "deduplicated",
                    "\(TextFormat.percent(s.deduplicatedChunkFraction)) of chunks, "
                        + "\(TextFormat.percent(s.deduplicatedByteFraction)) of bytes"
                ),
                ("blocks", "\(s.blocks) (\(s.rawBlocks) stored uncompressed)"),
            ]
        return [name]
            + fields.map { field, value in "  " + field + String(repeating: " ", count: 16 - field.count) + value }
    }

    /// The machine-readable form: one JSON object on one line.
    var json: String {
        let s = statistics
        let fields: [(String, String)] = [
            ("file", jsonString(name)),
            ("streams", "\(streams)"),
            ("version", "\(header.version)"),
            ("chunkerVariant", jsonString(header.chunkerVariant.rawValue)),
            ("minimumChunkSize", "\(header.minimumChunkSize)"),
            ("averageChunkSize", "\(header.averageChunkSize)"),
            ("maximumChunkSize", "\(header.maximumChunkSize)"),
            ("normalization", "\(header.normalization)"),
            ("seededChunker", "\(header.flags.contains(.seededChunker))"),
            ("codec", jsonString(header.codec.description)),
            ("codecLevel", "\(header.codecLevel)"),
            ("zstdWindowLog", header.zstdWindowLog.map { "\($0)" } ?? "null"),
            ("fingerprint", jsonString(fingerprintName)),
            ("blockSize", "\(header.blockSize)"),
            ("windowSize", "\(header.windowSize)"),
            ("storeID", header.flags.contains(.storeBacked) ? jsonString(header.storeID.description) : "null"),
            ("contentBytes", "\(s.contentBytes)"),
            ("encodedBytes", "\(s.encodedBytes)"),
            ("ratio", "\(s.ratio)"),
            ("chunks", "\(s.chunks)"),
            ("literalChunks", "\(s.literalChunks)"),
            ("literalBytes", "\(s.literalBytes)"),
            ("windowReferences", "\(s.windowReferences)"),
            ("windowReferenceBytes", "\(s.windowReferenceBytes)"),
            ("storeReferences", "\(s.storeReferences)"),
            ("storeReferenceBytes", "\(s.storeReferenceBytes)"),
            ("storeRuns", "\(s.storeRuns)"),
            ("deduplicatedChunkFraction", "\(s.deduplicatedChunkFraction)"),
            ("deduplicatedByteFraction", "\(s.deduplicatedByteFraction)"),
            ("blocks", "\(s.blocks)"),
            ("rawBlocks", "\(s.rawBlocks)"),
        ]
        return "{" + fields.map { key, value in "\"\(key)\":\(value)" }.joined(separator: ",") + "}"
    }
}
