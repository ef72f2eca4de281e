/// A failure of the tunnel: a peer that breaks the protocol, a refused target, a dead link, a local socket error.
///
/// Built like NIO's `FileSystemError`: a stable ``code`` to match on and a ``message`` naming the frame, the
/// stream, the value found and what was expected.
public struct TunnelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure, stable across releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case protocolViolation = "protocol violation"
            case frameTooLarge = "frame too large"
            case versionMismatch = "protocol version mismatch"
            case handshakeFailed = "handshake failed"
            case flowControl = "flow control violation"
            case tooManyStreams = "too many streams"
            case targetRefused = "target refused"
            case connectFailed = "connect failed"
            case checksumMismatch = "checksum mismatch"
            case decodeFailed = "decode failed"
            case missingChunk = "missing chunk"
            case peerTimeout = "peer timeout"
            case linkClosed = "link closed"
            case shuttingDown = "shutting down"
            case invalidArgument = "invalid argument"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The peer sent a frame that the protocol forbids (unknown type, bad field, wrong stream ID).
        public static let protocolViolation = Code(.protocolViolation)
        /// A frame's declared length exceeds the limit; nothing was allocated for it.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// The peer speaks another protocol version.
        public static let versionMismatch = Code(.versionMismatch)
        /// The peer's first frame was not a valid hello.
        public static let handshakeFailed = Code(.handshakeFailed)
        /// The peer sent more than its credit allows.
        public static let flowControl = Code(.flowControl)
        /// The peer opened more streams than the limit.
        public static let tooManyStreams = Code(.tooManyStreams)
        /// The server's allow-list does not permit the requested target.
        public static let targetRefused = Code(.targetRefused)
        /// The target could not be reached.
        public static let connectFailed = Code(.connectFailed)
        /// Decoded bytes do not match the checksum their frame carries.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// The encoded payload of a data frame could not be decoded.
        public static let decodeFailed = Code(.decodeFailed)
        /// A chunk the peer referenced could not be obtained, even by asking the peer.
        public static let missingChunk = Code(.missingChunk)
        /// The peer sent nothing within the keepalive timeout.
        public static let peerTimeout = Code(.peerTimeout)
        /// The peer link closed while the stream was open.
        public static let linkClosed = Code(.linkClosed)
        /// The accelerator is shutting down.
        public static let shuttingDown = Code(.shuttingDown)
        /// A command-line or configuration value is malformed.
        public static let invalidArgument = Code(.invalidArgument)

        /// The wire value used in GOAWAY and RESET frames.
        public var wireValue: UInt32 {
            switch value {
            case .protocolViolation: 1
            case .frameTooLarge: 2
            case .versionMismatch: 3
            case .handshakeFailed: 4
            case .flowControl: 5
            case .tooManyStreams: 6
            case .targetRefused: 7
            case .connectFailed: 8
            case .checksumMismatch: 9
            case .decodeFailed: 10
            case .missingChunk: 11
            case .peerTimeout: 12
            case .linkClosed: 13
            case .shuttingDown: 14
            case .invalidArgument: 15
            }
        }

        /// The code for a wire value; unknown values read as ``protocolViolation``.
        public init(wireValue: UInt32) {
            let all: [Value] = [
                .protocolViolation, .frameTooLarge, .versionMismatch, .handshakeFailed, .flowControl,
                .tooManyStreams, .targetRefused, .connectFailed, .checksumMismatch, .decodeFailed, .missingChunk,
                .peerTimeout, .linkClosed, .shuttingDown, .invalidArgument,
            ]
            let index = Int(wireValue) - 1
            self.value = all.indices.contains(index) ? all[index] : .protocolViolation
        }

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, naming the frame, stream or address involved.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
