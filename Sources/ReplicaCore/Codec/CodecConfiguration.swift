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

    /// Creates a checked codec configuration.
    ///
    /// - Throws: ``ConfigurationError`` when the level is out of the codec's range.
    public init(_ kind: CodecKind, level: Int? = nil) throws(ConfigurationError) {
        let resolved: Int
        switch kind {
        case .none:
            resolved = 0
        case .lz4:
            resolved = level ?? 1
            guard (1...12).contains(resolved) else {
                throw ConfigurationError(setting: "level", message: "lz4 levels are 1...12, got \(resolved)")
            }
        case .zstd:
            resolved = level ?? 3
            let range = ZstdCompressor.levelRange
            guard range.contains(resolved) else {
                throw ConfigurationError(
                    setting: "level",
                    message: "zstd levels are \(range.lowerBound)...\(range.upperBound), got \(resolved)")
            }
        }
        self.kind = kind
        self.level = resolved
    }

    /// zstd at level 3: Replica's default.
    public static let `default` = CodecConfiguration(checked: .zstd, level: 3)

    /// For constants that the tests show to be valid.
    private init(checked kind: CodecKind, level: Int) {
        self.kind = kind
        self.level = level
    }

    /// For example "zstd level 3".
    public var description: String { kind == .none ? "none" : "\(kind) level \(level)" }
}
