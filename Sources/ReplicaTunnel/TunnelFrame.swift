public import NIOCore
public import ReplicaCore

/// One frame of the peer protocol. `docs/PROTOCOL.md` gives each layout byte by byte.
///
/// Stream frames (`open` to `reset`) carry a non-zero stream ID; link frames carry stream 0.
public enum TunnelFrame: Hashable, Sendable {
    /// The first frame each side sends: who it is and what it can do.
    case hello(TunnelHello)
    /// The sender is closing the link, and says why.
    case goAway(code: TunnelError.Code, reason: String)
    /// Opens a stream to `target`; `window` is the opener's initial receive credit for it.
    case open(stream: UInt32, target: TunnelTarget, window: UInt32)
    /// Stream data: engine-encoded bytes and the checks the receiver applies before delivering them.
    case data(stream: UInt32, TunnelData)
    /// Grants `increment` more bytes of decoded data on a stream. The first one from the acceptor of an
    /// OPEN means the target connection is established.
    case windowUpdate(stream: UInt32, increment: UInt32)
    /// The sender will send no more data on the stream (a TCP FIN).
    case halfClose(stream: UInt32)
    /// The stream is aborted in both directions.
    case reset(stream: UInt32, code: TunnelError.Code, reason: String)
    /// A keepalive probe; the peer answers with `pong` and the same value.
    case ping(UInt64)
    /// The answer to `ping`.
    case pong(UInt64)
    /// Asks the peer for chunks that its data frames referenced and the receiver's store lacks.
    case chunkRequest([Fingerprint])
    /// One chunk asked for, or `nil` when the peer cannot supply it.
    case chunkReply(Fingerprint, [UInt8]?)

    /// The frame types on the wire.
    public enum Kind: UInt8, CaseIterable, Sendable {
        case hello = 0x01
        case goAway = 0x02
        case open = 0x10
        case data = 0x11
        case windowUpdate = 0x12
        case halfClose = 0x13
        case reset = 0x14
        case ping = 0x20
        case pong = 0x21
        case chunkRequest = 0x30
        case chunkReply = 0x31

        /// Whether frames of this kind belong to a stream (non-zero stream ID).
        var isStreamFrame: Bool { (0x10..<0x20).contains(rawValue) }
    }

    /// This frame's kind.
    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .goAway: .goAway
        case .open: .open
        case .data: .data
        case .windowUpdate: .windowUpdate
        case .halfClose: .halfClose
        case .reset: .reset
        case .ping: .ping
        case .pong: .pong
        case .chunkRequest: .chunkRequest
        case .chunkReply: .chunkReply
        }
    }

    /// The stream this frame belongs to, or 0 for link frames.
    public var stream: UInt32 {
        switch self {
        case .open(let stream, _, _), .data(let stream, _), .windowUpdate(let stream, _), .halfClose(let stream),
            .reset(let stream, _, _):
            stream
        case .hello, .goAway, .ping, .pong, .chunkRequest, .chunkReply: 0
        }
    }
}

/// The hello payload: protocol version, capabilities, store identity, frame limit, receive budget and the
/// fingerprint key check.
public struct TunnelHello: Hashable, Sendable {
    /// The protocol version the sender speaks.
    public var version: UInt16
    /// What the sender can do.
    public var capabilities: TunnelCapabilities
    /// The identity of the sender's chunk store.
    public var storeID: StoreID
    /// The largest frame payload the sender accepts.
    public var frameLimit: UInt32
    /// The most decoded bytes the sender accepts in flight over the whole link (sent to it, not yet credited
    /// back): the peer's global send budget is at most this.
    public var receiveBudget: UInt32
    /// The 32-bit check value of the sender's fingerprint key (``Fingerprinter/keyCheck``; 0 when unkeyed).
    /// Both ends must use the same key, or references would name chunks the other end cannot find; a
    /// mismatch ends the handshake with a clear error. It reveals nothing useful about the key.
    public var fingerprintKeyCheck: UInt32

    /// Creates a hello.
    public init(
        version: UInt16 = TunnelProtocol.version, capabilities: TunnelCapabilities, storeID: StoreID,
        frameLimit: UInt32, receiveBudget: UInt32, fingerprintKeyCheck: UInt32 = 0
    ) {
        self.fingerprintKeyCheck = fingerprintKeyCheck
        self.version = version
        self.capabilities = capabilities
        self.storeID = storeID
        self.frameLimit = frameLimit
        self.receiveBudget = receiveBudget
    }
}

/// Where the acceptor of an OPEN should connect.
public struct TunnelTarget: Hashable, Sendable, CustomStringConvertible {
    /// A host name or address literal, at most 255 bytes of UTF-8.
    public var host: String
    /// The TCP port.
    public var port: Int

    /// Creates a target.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (IPv6 literals in brackets: `[::1]:80`).
    ///
    /// - Throws: ``TunnelError`` with code `invalidArgument` naming what is wrong.
    public init(parsing text: some StringProtocol) throws(TunnelError) {
        let text = String(text)
        guard let colon = text.lastIndex(of: ":") else {
            throw TunnelError(.invalidArgument, "'\(text)' is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw TunnelError(.invalidArgument, "'\(text)': the port must be 1...65535")
        }
        guard !host.isEmpty, host.utf8.count <= 255 else {
            throw TunnelError(.invalidArgument, "'\(text)': the host must be 1...255 bytes")
        }
        self.init(host: host, port: port)
    }

    /// `HOST:PORT`, the host escaped (a target may come from a peer's OPEN frame, so it is peer-supplied text).
    public var description: String {
        let host = LogText.escape(host)
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// The payload of a DATA frame.
public struct TunnelData: Hashable, Sendable {
    /// How many bytes the encoded payload decodes to.
    public var decodedLength: UInt32
    /// The low 64 bits of the XXH3-128 of the decoded bytes; the receiver checks it before delivering.
    public var checksum: UInt64
    /// The store references the encoded payload makes, so the receiver can fetch any it lacks first.
    public var references: [Fingerprint]
    /// Bytes of the direction's Replica stream: whole blocks (and, in the first frame, the stream header), or
    /// the application bytes themselves when ``isPlain``.
    public var encoded: ByteBuffer
    /// Whether the payload bypassed the engine (a flow found incompressible): `encoded` holds the bytes as they
    /// are, and the direction's decoder does not see them. Flag bit 0 of the frame header.
    public var isPlain: Bool

    /// Creates a data payload.
    public init(
        decodedLength: UInt32, checksum: UInt64, references: [Fingerprint], encoded: ByteBuffer, isPlain: Bool = false
    ) {
        self.decodedLength = decodedLength
        self.checksum = checksum
        self.references = references
        self.encoded = encoded
        self.isPlain = isPlain
    }

    /// A payload that carries `bytes` past the engine, with their checksum.
    public static func plain(_ bytes: ByteBuffer) -> TunnelData {
        let checksum = bytes.withUnsafeReadableBytes { LinkChecksum.of($0) }
        return TunnelData(
            decodedLength: UInt32(bytes.readableBytes), checksum: checksum, references: [], encoded: bytes,
            isPlain: true)
    }
}
