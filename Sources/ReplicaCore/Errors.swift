/// A configuration value that Replica refuses, found before any work starts.
///
/// Thrown by the checked initialisers of ``ChunkerConfiguration``, ``CodecConfiguration``,
/// ``EncoderConfiguration`` and ``DecoderOptions``. The ``message`` names the setting and the allowed range.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name of the offending setting, for example `"averageSize"`.
    public let setting: String
    /// What is wrong with it, in words fit for an operator.
    public let message: String

    /// Creates an error for `setting`.
    public init(setting: String, message: String) {
        self.setting = setting
        self.message = message
    }

    /// "invalid SETTING: MESSAGE".
    public var description: String { "invalid \(setting): \(message)" }
}

/// A failure reported by a compression library (libzstd or liblz4), or input that a codec refuses.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The library call that failed, for example `"ZSTD_decompressDCtx"`.
    public let call: String
    /// The library's own error name or a description of the refused input.
    public let message: String

    /// Creates an error for a failed `call`.
    public init(call: String, message: String) {
        self.call = call
        self.message = message
    }

    /// "CALL failed: MESSAGE".
    public var description: String { "\(call) failed: \(message)" }
}

/// A `.rpl` stream that cannot be decoded: corrupt, truncated, of an unknown version, or beyond a limit.
///
/// Every format error names the byte ``offset`` in the encoded stream where the problem was found, so an operator
/// can tell a truncated download (the offset is the file size) from a flipped bit (the offset is inside a block).
public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem, stable across releases so callers can match on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notReplicaStream = "not a Replica stream"
            case unsupportedVersion = "unsupported format version"
            case unsupportedFeature = "unsupported feature"
            case corrupt = "corrupt data"
            case checksumMismatch = "checksum mismatch"
            case truncated = "truncated stream"
            case limitExceeded = "limit exceeded"
            case trailingData = "trailing data"
            case missingChunks = "missing chunks"
            case wrongStore = "wrong chunk store"
            case wrongKey = "wrong fingerprint key"
            case storeOrderMismatch = "store order mismatch"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The input does not start with Replica's magic number.
        public static let notReplicaStream = Code(.notReplicaStream)
        /// The stream was written by a newer format version.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The stream uses a feature flag, codec or fingerprint kind this decoder lacks.
        public static let unsupportedFeature = Code(.unsupportedFeature)
        /// A field holds a value that no encoder writes.
        public static let corrupt = Code(.corrupt)
        /// A checksum does not match the bytes it covers.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// The stream ends before its trailer.
        public static let truncated = Code(.truncated)
        /// A size in the stream exceeds what the header or the decoder's memory limit allows.
        public static let limitExceeded = Code(.limitExceeded)
        /// Bytes follow the trailer.
        public static let trailingData = Code(.trailingData)
        /// The stream references chunks that the decoder's store lacks.
        public static let missingChunks = Code(.missingChunks)
        /// The stream was encoded against a different chunk store.
        public static let wrongStore = Code(.wrongStore)
        /// A store run (format version 2) does not follow the order of the decoder's store: it holds the
        /// sender's chunks in another order, or lacks some of them.
        public static let storeOrderMismatch = Code(.storeOrderMismatch)
        /// The stream's fingerprints were keyed with a key the decoder was not given.
        public static let wrongKey = Code(.wrongKey)

        /// The code in words, for example "truncated stream".
        public var description: String { value.rawValue }
    }

    /// The kind of problem.
    public let code: Code
    /// The offset in the encoded stream at which the problem was detected.
    public let offset: UInt64
    /// A description naming the field, the value found and what was expected.
    public let message: String

    /// Creates a format error.
    public init(_ code: Code, at offset: UInt64, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    /// "CODE at offset N: MESSAGE", the form the CLI prints after the file name.
    public var description: String { "\(code) at offset \(offset): \(message)" }
}

/// A chunk store that cannot do what was asked: an I/O failure, a full disk, or a store in use.
public struct ChunkStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What the store was doing and what went wrong, naming the store and the chunk where known.
    public let message: String

    /// Creates a store error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
