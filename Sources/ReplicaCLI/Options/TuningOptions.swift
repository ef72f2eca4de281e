import ArgumentParser
import ReplicaCore

/// The codec names `--codec` accepts.
enum CodecName: String, ExpressibleByArgument, CaseIterable {
    case zstd, lz4, none

    var kind: CodecKind {
        switch self {
        case .zstd: .zstd
        case .lz4: .lz4
        case .none: .none
        }
    }
}

/// How compress cuts, compresses and references: levels, `--fast`, `--codec`, `--chunk-size`, `--window`.
/// The `-1` ... `-19` spellings are rewritten to `--level` by ``ArgumentRewriter``.
struct TuningOptions: ParsableArguments {
    /// The levels `-1` ... `-19` select.
    static let levels = 1...19

    @Option(help: ArgumentHelp("1 (fast) to 19 (small), default 3; or -1 ... -19.", valueName: "n"))
    var level: Int?

    @Flag(help: "Fastest setting: zstd level -1 (lz4: level 1).")
    var fast = false

    @Option(help: "Block codec.")
    var codec: CodecName = .zstd

    @Option(
        name: .customLong("chunk-size"),
        help: ArgumentHelp("Average chunk size; min = 1/4, max = 4x.", valueName: "size"))
    var chunkSize = ByteCount(8 << 10)

    @Option(help: ArgumentHelp("How far back repeats are found; the decoder holds this much.", valueName: "size"))
    var window = ByteCount(EncoderConfiguration.defaultWindowSize)

    @OptionGroup var key: FingerprintKeyOptions

    func validate() throws {
        if let level, !Self.levels.contains(level) {
            throw ValidationError("level \(level) is outside 1...19.")
        }
        if level != nil && fast { throw ValidationError("--fast and a level cannot be combined.") }
        do {
            _ = try configuration()
        } catch {
            throw ValidationError("\(error).")
        }
    }

    /// The encoder configuration these options describe.
    ///
    /// - Throws: ``ConfigurationError`` for a level the codec lacks or a size out of range.
    func configuration(fingerprinter: Fingerprinter = Fingerprinter()) throws(ConfigurationError) -> EncoderConfiguration {
        let codecLevel: Int? =
            switch codec {
            case .zstd: fast ? -1 : level
            case .lz4: fast ? 1 : level
            case .none: nil
            }
        return try EncoderConfiguration(
            chunker: ChunkerConfiguration(averageSize: chunkSize.value),
            codec: CodecConfiguration(
                codec.kind, level: codecLevel, longWindowLog: CodecConfiguration.longWindowLog(within: window.value)),
            windowSize: window.value, fingerprinter: fingerprinter)
    }

    /// The encoder configuration, keyed when `--fingerprint-key` was given.
    ///
    /// - Throws: ``ConfigurationError``, or ``FileError`` for an unreadable or short key file.
    func keyedConfiguration() throws -> EncoderConfiguration {
        try configuration(fingerprinter: try key.fingerprinter())
    }
}
