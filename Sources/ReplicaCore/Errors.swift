/// A configuration value that Replica refuses, found before any work starts.
///
/// Thrown by the checked initialisers of ``ChunkerConfiguration``, ``CodecConfiguration``,
/// ``EncoderConfiguration``, ``DecoderOptions``, ``Fingerprinter``, ``DiskChunkStore/Options`` and
/// ``DiskChunkStore/Durability``. Each check has its own ``code``; the ``message`` names the value and the
/// allowed range.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which check failed: one code per check, stable across releases so callers can match on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable, CaseIterable {
            case averageSizeOutOfRange = "average size out of range"
            case minimumSizeTooSmall = "minimum size too small"
            case minimumAboveAverage = "minimum above average"
            case maximumBelowAverage = "maximum below average"
            case maximumSizeTooLarge = "maximum size too large"
            case normalizationOutOfRange = "normalization out of range"
            case normalizationTooStrong = "normalization too strong"
            case levelOutOfRange = "level out of range"
            case longWindowLogOutOfRange = "long window log out of range"
            case windowSizeOutOfRange = "window size out of range"
            case blockSizeOutOfRange = "block size out of range"
            case memoryLimitTooSmall = "memory limit too small"
            case negativeOutputBound = "negative output bound"
            case keyTooShort = "key too short"
            case capacityTooSmall = "capacity too small"
            case segmentSizeOutOfRange = "segment size out of range"
            case segmentSizeAboveCapacity = "segment size above capacity"
            case unsupportedStoreCodec = "unsupported store codec"
            case snapshotIntervalTooSmall = "snapshot interval too small"
            case negativeSyncBytes = "negative sync bytes"
            case negativeSyncInterval = "negative sync interval"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// ``ChunkerConfiguration``: the average chunk size is outside 64 B...4 MiB.
        public static let averageSizeOutOfRange = Code(.averageSizeOutOfRange)
        /// ``ChunkerConfiguration``: the minimum chunk size is below the smallest allowed.
        public static let minimumSizeTooSmall = Code(.minimumSizeTooSmall)
        /// ``ChunkerConfiguration``: the minimum chunk size is larger than the average.
        public static let minimumAboveAverage = Code(.minimumAboveAverage)
        /// ``ChunkerConfiguration``: the maximum chunk size is smaller than the average.
        public static let maximumBelowAverage = Code(.maximumBelowAverage)
        /// ``ChunkerConfiguration``: the maximum chunk size is above the largest allowed.
        public static let maximumSizeTooLarge = Code(.maximumSizeTooLarge)
        /// ``ChunkerConfiguration``: the normalisation level is outside 0...3.
        public static let normalizationOutOfRange = Code(.normalizationOutOfRange)
        /// ``ChunkerConfiguration``: the normalisation level needs a larger average size.
        public static let normalizationTooStrong = Code(.normalizationTooStrong)
        /// ``CodecConfiguration``: the codec has no such compression level.
        public static let levelOutOfRange = Code(.levelOutOfRange)
        /// ``CodecConfiguration``: the zstd long-distance window log is out of range.
        public static let longWindowLogOutOfRange = Code(.longWindowLogOutOfRange)
        /// ``EncoderConfiguration``: the reference window is outside 0 B...1 TiB.
        public static let windowSizeOutOfRange = Code(.windowSizeOutOfRange)
        /// ``EncoderConfiguration``: the block size is outside 4 KiB...4 MiB.
        public static let blockSizeOutOfRange = Code(.blockSizeOutOfRange)
        /// ``DecoderOptions``: the decoder's memory limit is below 1 MiB.
        public static let memoryLimitTooSmall = Code(.memoryLimitTooSmall)
        /// ``DecoderOptions``: the output bound is negative.
        public static let negativeOutputBound = Code(.negativeOutputBound)
        /// ``Fingerprinter``: the fingerprint key is shorter than 16 bytes.
        public static let keyTooShort = Code(.keyTooShort)
        /// ``DiskChunkStore/Options``: the capacity is below 1 MiB.
        public static let capacityTooSmall = Code(.capacityTooSmall)
        /// ``DiskChunkStore/Options``: the segment size is outside 64 KiB...128 MiB.
        public static let segmentSizeOutOfRange = Code(.segmentSizeOutOfRange)
        /// ``DiskChunkStore/Options``: the segment size is above a quarter of the capacity.
        public static let segmentSizeAboveCapacity = Code(.segmentSizeAboveCapacity)
        /// ``DiskChunkStore/Options``: the store keeps chunks raw or as lz4, not zstd.
        public static let unsupportedStoreCodec = Code(.unsupportedStoreCodec)
        /// ``DiskChunkStore/Options``: the snapshot interval is below 1 MiB.
        public static let snapshotIntervalTooSmall = Code(.snapshotIntervalTooSmall)
        /// ``DiskChunkStore/Durability``: the byte count between syncs is negative.
        public static let negativeSyncBytes = Code(.negativeSyncBytes)
        /// ``DiskChunkStore/Durability``: the time between syncs is negative.
        public static let negativeSyncInterval = Code(.negativeSyncInterval)

        /// Every code, one per check (for tests and for callers that map codes to their own).
        public static var allCodes: [Code] { Value.allCases.map(Code.init) }

        /// The code in words.
        public var description: String { value.rawValue }
    }

    /// The kind of problem.
    public let code: Code
    /// The name of the offending setting, for example `"averageSize"`.
    public let setting: String
    /// What is wrong with it, in words fit for an operator.
    public let message: String
    /// Configuration errors have no underlying error: always `nil`.
    public var cause: (any Error & Sendable)? { nil }

    /// Creates an error for `setting`.
    public init(_ code: Code, setting: String, message: String) {
        self.code = code
        self.setting = setting
        self.message = message
    }

    /// "invalid SETTING: MESSAGE".
    public var description: String { "invalid \(setting): \(message)" }
}

/// The error a C library reported, kept as the ``CodecError/cause`` of a codec failure.
public struct LibraryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The library, for example `"libzstd"`.
    public let library: String
    /// The library's error name (`ZSTD_getErrorName`), or its return value in words.
    public let name: String

    /// Creates a library error.
    public init(library: String, name: String) {
        self.library = library
        self.name = name
    }

    /// "LIBRARY: NAME".
    public var description: String { "\(library): \(name)" }
}

/// A failure reported by a compression library (libzstd or liblz4), or input that a codec refuses.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem, stable across releases so callers can match on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case libraryError = "library error"
            case outOfMemory = "out of memory"
            case inputTooLarge = "input too large"
            case outputTooSmall = "output too small"
            case malformedInput = "malformed input"
            case lengthMismatch = "length mismatch"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The library refused a call; ``CodecError/cause`` is its ``LibraryError``.
        public static let libraryError = Code(.libraryError)
        /// The library could not allocate a context.
        public static let outOfMemory = Code(.outOfMemory)
        /// The input exceeds what the codec accepts in one call (`LZ4_MAX_INPUT_SIZE`).
        public static let inputTooLarge = Code(.inputTooLarge)
        /// The output does not fit the destination.
        public static let outputTooSmall = Code(.outputTooSmall)
        /// The compressed input is malformed.
        public static let malformedInput = Code(.malformedInput)
        /// The input decodes to more or fewer bytes than declared.
        public static let lengthMismatch = Code(.lengthMismatch)

        /// The code in words.
        public var description: String { value.rawValue }
    }

    /// The kind of problem.
    public let code: Code
    /// The library call that failed, for example `"ZSTD_decompressDCtx"`.
    public let call: String
    /// The library's own error name or a description of the refused input.
    public let message: String
    /// The library's error, when it reported one.
    public let cause: LibraryError?

    /// Creates an error for a failed `call`.
    public init(_ code: Code, call: String, message: String, cause: LibraryError? = nil) {
        self.code = code
        self.call = call
        self.message = message
        self.cause = cause
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
            case outputLimitExceeded = "output limit exceeded"
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
        /// The stream decodes to more than the decoder's ``DecoderOptions/maximumOutputSize``.
        public static let outputLimitExceeded = Code(.outputLimitExceeded)
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
    /// The codec failure behind a `corrupt` block, or the store failure behind a reference, when there was one.
    public let cause: (any Error & Sendable)?

    /// Creates a format error.
    public init(_ code: Code, at offset: UInt64, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.offset = offset
        self.message = message
        self.cause = cause
    }

    /// Equal when code, offset and message are (the cause is context, not identity).
    public static func == (lhs: FormatError, rhs: FormatError) -> Bool {
        lhs.code == rhs.code && lhs.offset == rhs.offset && lhs.message == rhs.message
    }

    /// Hashes code, offset and message.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(offset)
        hasher.combine(message)
    }

    /// "CODE at offset N: MESSAGE", the form the CLI prints after the file name.
    public var description: String { "\(code) at offset \(offset): \(message)" }
}

/// The `errno` of a failed system call, kept as the ``ChunkStoreError/cause`` of an I/O failure.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call, for example `"open"`.
    public let call: String
    /// The `errno` value.
    public let errno: Int32
    /// `strerror`'s words for it.
    public let reason: String

    /// Creates a system call error.
    public init(call: String, errno: Int32, reason: String) {
        self.call = call
        self.errno = errno
        self.reason = reason
    }

    /// "CALL: REASON (errno N)".
    public var description: String { "\(call): \(reason) (errno \(errno))" }
}

/// A chunk store that cannot do what was asked: an I/O failure, a full disk, or a store in use.
public struct ChunkStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem, stable across releases so callers can match on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notFound = "not found"
            case notAStore = "not a store"
            case damaged = "damaged"
            case unsupported = "unsupported"
            case inUse = "in use"
            case closed = "closed"
            case invalidArgument = "invalid argument"
            case ioFailure = "I/O failure"
            case noSpace = "no space"
            case exhausted = "exhausted"
            case readOnly = "read-only"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The store directory does not exist (and was not to be created).
        public static let notFound = Code(.notFound)
        /// The directory is not a Replica store.
        public static let notAStore = Code(.notAStore)
        /// A file of the store is damaged beyond what recovery repairs (for example `store.meta`).
        public static let damaged = Code(.damaged)
        /// The store was written by a newer version or with a setting this build lacks.
        public static let unsupported = Code(.unsupported)
        /// Another process holds the store.
        public static let inUse = Code(.inUse)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// The caller asked for something the store cannot hold (a chunk above the largest size).
        public static let invalidArgument = Code(.invalidArgument)
        /// A system call failed; ``ChunkStoreError/cause`` is its ``SystemCallError``.
        public static let ioFailure = Code(.ioFailure)
        /// The disk is full (`ENOSPC`).
        public static let noSpace = Code(.noSpace)
        /// The store used all its segment numbers.
        public static let exhausted = Code(.exhausted)
        /// The store was opened read-only and was asked to write.
        public static let readOnly = Code(.readOnly)

        /// The code in words.
        public var description: String { value.rawValue }
    }

    /// The kind of problem.
    public let code: Code
    /// What the store was doing and what went wrong, naming the store and the chunk where known.
    public let message: String
    /// The failed system call, for I/O failures.
    public let cause: SystemCallError?

    /// Creates a store error.
    public init(_ code: Code, _ message: String, cause: SystemCallError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message.
    public var description: String { message }
}
