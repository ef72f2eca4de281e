import ReplicaCore

/// The error codes of `replica.h`, and how a Swift error becomes one.
///
/// Values are stable: they are the C enum `replica_error_code`. A `size_t` result carries an error as
/// `(size_t)-code`, as zstd does, so every code is above any real size.
enum ErrorCode: Int {
    case noError = 0
    case generic = 1
    case notReplicaStream = 10
    case unsupportedVersion = 11
    case unsupportedFeature = 12
    case corrupt = 13
    case checksumMismatch = 14
    case truncated = 15
    case memoryLimit = 16
    case trailingData = 17
    case missingChunks = 18
    case wrongStore = 19
    case wrongKey = 20
    case nullPointer = 40
    case dstSizeTooSmall = 41
    case parameterUnsupported = 42
    case parameterOutOfBound = 43
    case bufferPosition = 44
    case stageWrong = 45
    case codec = 60
    case store = 61

    /// `replica_error_max_code`: results above `(size_t)-maxCode` are errors.
    static let maxCode = 100

    /// The `size_t` result that carries this code.
    var result: UInt { UInt(bitPattern: -rawValue) }

    /// The code a `size_t` result carries, or `nil` for a size.
    init?(result: UInt) {
        guard result > UInt(bitPattern: -Self.maxCode) else { return nil }
        self = ErrorCode(rawValue: -Int(bitPattern: result)) ?? .generic
    }

    /// The static name `replica_get_error_name` returns.
    var name: StaticString {
        switch self {
        case .noError: "No error detected"
        case .generic: "Error (generic)"
        case .notReplicaStream: "Not a Replica stream"
        case .unsupportedVersion: "Unsupported format version"
        case .unsupportedFeature: "Unsupported stream feature"
        case .corrupt: "Corrupted stream"
        case .checksumMismatch: "Checksum mismatch"
        case .truncated: "Truncated stream"
        case .memoryLimit: "Stream needs more memory than the decoder's limit"
        case .trailingData: "Data follows the stream's trailer"
        case .missingChunks: "Chunk store lacks chunks the stream references"
        case .wrongStore: "Stream references a chunk store the decoder does not have"
        case .wrongKey: "Wrong fingerprint key"
        case .nullPointer: "NULL pointer argument"
        case .dstSizeTooSmall: "Destination buffer is too small"
        case .parameterUnsupported: "Unsupported parameter"
        case .parameterOutOfBound: "Parameter is out of bound"
        case .bufferPosition: "Buffer position is beyond its size"
        case .stageWrong: "Operation not authorized at current processing stage"
        case .codec: "Compression library failed"
        case .store: "Chunk store failed"
        }
    }
}

/// An error on its way to C: its code and a message naming what failed.
struct CFailure: Error {
    let code: ErrorCode
    let message: String

    init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Sorts any error thrown by ReplicaCore (or by this module) into a code, keeping its description.
    init(classifying error: any Error) {
        switch error {
        case let failure as CFailure:
            self = failure
        case let format as FormatError:
            self.init(Self.code(of: format.code), format.description)
        case let configuration as ConfigurationError:
            self.init(.parameterOutOfBound, configuration.description)
        case let codec as CodecError:
            self.init(.codec, codec.description)
        case let store as ChunkStoreError:
            self.init(.store, store.description)
        default:
            self.init(.generic, String(describing: error))
        }
    }

    private static func code(of code: FormatError.Code) -> ErrorCode {
        switch code {
        case .notReplicaStream: .notReplicaStream
        case .unsupportedVersion: .unsupportedVersion
        case .unsupportedFeature: .unsupportedFeature
        case .corrupt: .corrupt
        case .checksumMismatch: .checksumMismatch
        case .truncated: .truncated
        case .limitExceeded: .memoryLimit
        case .trailingData: .trailingData
        case .missingChunks: .missingChunks
        case .wrongStore: .wrongStore
        case .wrongKey: .wrongKey
        case .outputLimitExceeded: .dstSizeTooSmall
        default: .corrupt
        }
    }
}

/// Runs `body`, turning any thrown error into its `size_t` error result.
func catchingErrors(_ body: () throws -> UInt) -> UInt {
    do {
        return try body()
    } catch {
        return CFailure(classifying: error).code.result
    }
}

extension StaticString {
    /// The literal as a C string: Swift stores string literals NUL-terminated in constant memory.
    var cString: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}

/// `replica_is_error`.
@_cdecl("replica_is_error")
public func replicaIsError(_ result: UInt) -> CUnsignedInt {
    ErrorCode(result: result) == nil ? 0 : 1
}

/// `replica_get_error_code`.
@_cdecl("replica_get_error_code")
public func replicaGetErrorCode(_ result: UInt) -> CInt {
    CInt(ErrorCode(result: result)?.rawValue ?? 0)
}

/// `replica_get_error_name`.
@_cdecl("replica_get_error_name")
public func replicaGetErrorName(_ result: UInt) -> UnsafePointer<CChar> {
    (ErrorCode(result: result) ?? .noError).name.cString
}

/// `replica_get_error_string`.
@_cdecl("replica_get_error_string")
public func replicaGetErrorString(_ code: CInt) -> UnsafePointer<CChar> {
    guard let known = ErrorCode(rawValue: Int(code)) else { return StaticString("Unknown error code").cString }
    return known.name.cString
}

/// `replica_version_number`.
@_cdecl("replica_version_number")
public func replicaVersionNumber() -> CUnsignedInt { 100 }
