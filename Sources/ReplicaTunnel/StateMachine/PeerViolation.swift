import ReplicaCore

/// What a peer did that ends its link: the misbehaviour a ``PeerStateMachine`` transition detected, named
/// precisely enough for a log line or a metric (swift-nio-http2's `NIOHTTP2Errors` in spirit).
enum PeerViolation: Hashable, Sendable, CustomStringConvertible {
    /// A frame other than HELLO came first.
    case frameBeforeHello(TunnelFrame.Kind)
    /// The peer speaks another protocol version.
    case versionMismatch(UInt16)
    /// The hello's frame limit or budget is unusable.
    case badHello
    /// Its hello announced another fingerprint key (key checks; 0 is no key).
    case fingerprintKeyMismatch(peer: UInt32, own: UInt32)
    /// A second HELLO.
    case secondHello
    /// A server opened a stream (only clients do).
    case serverOpenedStream(UInt32)
    /// A stream ID that is even, or not above the last one the peer opened.
    case streamOutOfOrder(UInt32, last: UInt32)
    /// DATA, WINDOW_UPDATE or HALF_CLOSE on a stream that was never opened.
    case frameOnUnopenedStream(TunnelFrame.Kind, UInt32)
    /// DATA whose declared decoded length exceeds the stream's credit.
    case streamCreditExceeded(UInt32, declared: Int, credit: Int)
    /// DATA whose declared decoded length exceeds what is left of the link's budget.
    case linkBudgetExceeded(UInt32, declared: Int, budget: Int)
    /// A WINDOW_UPDATE that raises a stream's credit beyond 2 GiB.
    case creditOverflow(UInt32)
    /// A frame kind arrived faster than its rate limit.
    case excessiveFrames(LinkDefences.Frame, TunnelRateLimit)
    /// Replies (PONG, CHUNK_REPLY) queued for a peer that does not read passed the cap.
    case controlQueueFull(frames: Int, bytes: Int)
    /// DATA held while chunks are fetched passed the byte cap.
    case missQueueFull(bytes: Int, limit: Int)
    /// A CHUNK_REPLY for a chunk that was not asked for.
    case unsolicitedChunkReply(Fingerprint)
    /// A chunk asked for was not supplied, or did not match its fingerprint.
    case chunkNotSupplied(Fingerprint, mismatched: Bool)
    /// A chunk asked for got no reply within the deadline.
    case chunkReplyOverdue(Fingerprint, milliseconds: Int64)
    /// CHUNK_REQUESTs for chunks not referenced on this link (or asked for again) passed the budget.
    case unscopedChunkRequests(Int)

    /// The handshake failure this is, when the peer's hello (or what came instead of it) ended the link.
    var handshakeFailure: HandshakeFailure? {
        switch self {
        case .versionMismatch: .versionMismatch
        case .fingerprintKeyMismatch: .fingerprintKey
        case .badHello, .frameBeforeHello: .badHello
        default: nil
        }
    }

    /// The error sent in the GOAWAY and logged.
    var error: TunnelError {
        switch self {
        case .frameBeforeHello(let kind): TunnelError(.handshakeFailed, "sent a \(kind) frame before its hello")
        case .versionMismatch(let version):
            TunnelError(
                .versionMismatch, "speaks protocol version \(version), this build speaks \(TunnelProtocol.version)")
        case .badHello: TunnelError(.handshakeFailed, "announced a frame limit below 256 KiB or no budget")
        case .fingerprintKeyMismatch(let peer, let own):
            TunnelError(
                .handshakeFailed,
                "uses fingerprint key \(Self.keyName(peer)), this end uses \(Self.keyName(own)): give both ends the "
                    + "same --fingerprint-key")
        case .secondHello: TunnelError(.protocolViolation, "sent a second hello")
        case .serverOpenedStream(let id): TunnelError(.protocolViolation, "the server tried to open stream \(id)")
        case .streamOutOfOrder(let id, let last):
            TunnelError(.protocolViolation, "opened stream \(id) out of order (last \(last))")
        case .frameOnUnopenedStream(let kind, let id):
            TunnelError(.protocolViolation, "sent \(kind) on stream \(id), which was never opened")
        case .streamCreditExceeded(let id, let declared, let credit):
            TunnelError(.flowControl, "sent \(declared) bytes on stream \(id) with \(credit) of credit")
        case .linkBudgetExceeded(let id, let declared, let budget):
            TunnelError(.flowControl, "sent \(declared) bytes on stream \(id) with \(budget) left of the link budget")
        case .creditOverflow(let id): TunnelError(.flowControl, "raised stream \(id)'s credit beyond 2 GiB")
        case .excessiveFrames(let kind, let limit):
            TunnelError(.protocolViolation, "sent \(kind.rawValue) frames faster than \(limit)")
        case .controlQueueFull(let frames, let bytes):
            TunnelError(.protocolViolation, "left \(frames) replies (\(bytes) bytes) unread, past the cap")
        case .missQueueFull(let bytes, let limit):
            TunnelError(
                .protocolViolation, "sent \(bytes) bytes of DATA while chunks were missing, the cap is \(limit)")
        case .unsolicitedChunkReply(let fingerprint):
            TunnelError(.protocolViolation, "sent chunk \(fingerprint), which was not asked for")
        case .chunkNotSupplied(let fingerprint, let mismatched):
            TunnelError(
                .missingChunk,
                "could not supply chunk \(fingerprint)" + (mismatched ? " (its bytes did not match the fingerprint)" : ""))
        case .chunkReplyOverdue(let fingerprint, let milliseconds):
            TunnelError(.missingChunk, "did not supply chunk \(fingerprint) within \(milliseconds) ms")
        case .unscopedChunkRequests(let count):
            TunnelError(
                .protocolViolation, "asked for \(count) chunks not referenced on this link or already answered")
        }
    }

    var description: String { error.description }

    /// A key check as log text: "none" or its hex id.
    private static func keyName(_ check: UInt32) -> String {
        check == 0 ? "none" : "id \(String(check, radix: 16))"
    }
}
