/// The compressor for literal blocks.
public enum CodecKind: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Stored as is.
    case none = 0
    /// LZ4 block format: the fastest, for links faster than about 1 Gbit/s.
    case lz4 = 1
    /// Zstandard: the best ratio per CPU second.
    case zstd = 2

    /// The codec's name as the CLI spells it.
    public var description: String {
        switch self {
        case .none: "none"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    /// Parses `"none"`, `"lz4"` or `"zstd"`.
    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = kind
    }
}

/// A codec and its level, checked against what the linked library supports.
public struct CodecConfiguration: Hashable, Sendable, CustomStringConvertible {
    /// The codec.
    public let kind: CodecKind
    /// For zstd, the level (`ZSTD_minCLevel()` to 19; 0 means zstd's default, 3). For lz4, 1 uses
    /// `LZ4_compress_fast` with acceleration 1 and higher levels use LZ4 HC at that level (up to 12).
    /// Ignored for ``CodecKind/none``.
    public let level: Int
    /// For zstd, the window log of long-distance matching (`ZSTD_c_enableLongDistanceMatching` with
    /// `ZSTD_c_windowLog`, as `zstd --long=N`), or `nil` for zstd's own window at the level (about 2 MiB at
    /// level 3, no long-distance matching). Always `nil` for the other codecs.
    ///
    /// The literal stream then finds matches up to `1 << longWindowLog` bytes back, such as an edited copy of
    /// a file 50 MB earlier. The decoder keeps that much history (it is part of the memory the stream
    /// declares; see `docs/FORMAT.md`), so a window log above 27 may need a larger decoder memory limit.
    public let longWindowLog: Int?

    /// The default long-distance window log for zstd: 27 (128 MiB), as `zstd --long`.
    public static let defaultLongWindowLog = 27
    /// The long-distance window logs accepted: 10 (1 KiB) to 30 (1 GiB).
    public static let longWindowLogRange = 10...30

    /// The long-distance window log that keeps zstd's history within `bytes` (a reference window the user
    /// chose, which is what the decoder is told to hold): ``defaultLongWindowLog`` when it fits, a smaller
    /// one down to 4 MiB (22), and `nil` (zstd's own window at the level, no long-distance matching) below.
    public static func longWindowLog(within bytes: Int) -> Int? {
        let fitting = Int.bitWidth - 1 - max(1, bytes).leadingZeroBitCount
        return fitting >= 22 ? min(defaultLongWindowLog, fitting) : nil
    }

    /// Creates a checked codec configuration.
    ///
    /// - Parameters:
    ///   - kind: the codec.
    ///   - level: the level; `nil` for the codec's default (zstd 3, lz4 1).
    ///   - longWindowLog: for zstd, the long-distance window log, by default ``defaultLongWindowLog``; `nil`
    ///     turns long-distance matching off. Ignored for the other codecs.
    /// - Throws: ``ConfigurationError`` when the level or the window log is out of range.
    public init(
        _ kind: CodecKind, level: Int? = nil, longWindowLog: Int? = CodecConfiguration.defaultLongWindowLog
    ) throws(ConfigurationError) {
        let resolved: Int
        switch kind {
        case .none:
            resolved = 0
        case .lz4:
            resolved = level ?? 1
            guard (1...12).contains(resolved) else {
                throw ConfigurationError(
                    .levelOutOfRange, setting: "level", message: "lz4 levels are 1...12, got \(resolved)")
            }
        case .zstd:
            resolved = level ?? 3
            let range = ZstdCompressor.levelRange
            guard range.contains(resolved) else {
                throw ConfigurationError(
                    .levelOutOfRange, setting: "level",
                    message: "zstd levels are \(range.lowerBound)...\(range.upperBound), got \(resolved)")
            }
        }
        if kind == .zstd, let longWindowLog, !Self.longWindowLogRange.contains(longWindowLog) {
            throw ConfigurationError(
                .longWindowLogOutOfRange, setting: "longWindowLog",
                message: "zstd long-distance window logs are \(Self.longWindowLogRange), got \(longWindowLog)")
        }
        self.kind = kind
        self.level = resolved
        self.longWindowLog = kind == .zstd ? longWindowLog : nil
    }

    /// zstd at level 3 with long-distance matching over 128 MiB: Replica's default.
    public static let `default` = CodecConfiguration(checked: .zstd, level: 3, longWindowLog: defaultLongWindowLog)

    /// For constants that the tests show to be valid.
    private init(checked kind: CodecKind, level: Int, longWindowLog: Int?) {
        self.kind = kind
        self.level = level
        self.longWindowLog = longWindowLog
    }

    /// For example "zstd level 3" (long-distance matching is not named).
    public var description: String { kind == .none ? "none" : "\(kind) level \(level)" }
}
