/// Constants of the peer protocol spoken between two Replica accelerators. See `docs/PROTOCOL.md`.
public enum TunnelProtocol {
    /// The protocol version this build speaks. Version 2 (mutual TLS underneath, the fingerprint key check in
    /// the hello, per-peer permissions) replaced version 1; version 3 has version 2's frames, but its DATA
    /// payloads carry stream format 3 (transient literals and skips at flushes, `docs/FORMAT.md`), which a
    /// version-2 peer cannot decode. A peer of another version is refused with a `versionMismatch` GOAWAY naming
    /// both versions.
    public static let version: UInt16 = 3
    /// The most bytes a receiver holds for one link direction, across all flows, that transient literals delivered
    /// ahead of their chunks (stream format 3's carried bytes, at most one chunk per flow). A payload that would
    /// take it past this fails to decode and the link closes; a sender keeps to ``sentCarriedByteLimit`` by cutting
    /// a flow's chunk at a flush instead.
    public static let maximumCarriedBytes = 8 << 20
    /// The most undecided bytes a sender leaves delivered ahead of their chunks, across its flows: half the
    /// receiver's bound, so an honest sender never meets it.
    public static let sentCarriedByteLimit = maximumCarriedBytes / 2
    /// `"RPLT"`: the first bytes of every hello payload.
    public static let magic: [UInt8] = [0x52, 0x50, 0x4C, 0x54]
    /// The size of every frame header: type, flags, stream ID, payload length.
    public static let frameHeaderSize = 10
    /// The size of a version-2 (and version-3) hello payload; later versions may append fields.
    public static let helloSize = 38
    /// The size of a version-1 hello payload: the least a hello may hold, so an old peer's version can still be
    /// read and reported.
    public static let minimumHelloSize = 34
    /// The most a hello payload may hold, whatever its version.
    public static let maximumHelloSize = 256
    /// The most bytes of UTF-8 a GOAWAY or RESET reason may hold.
    public static let maximumReasonSize = 1024

    /// `reason` cut to its longest prefix of whole Unicode scalars that fits ``maximumReasonSize`` bytes of UTF-8,
    /// so a cut never splits a character's bytes.
    static func boundedReason(_ reason: String) -> String {
        guard reason.utf8.count > maximumReasonSize else { return reason }
        var size = 0
        var end = reason.unicodeScalars.startIndex
        for index in reason.unicodeScalars.indices {
            let width = UTF8.width(reason.unicodeScalars[index])
            guard size + width <= maximumReasonSize else { break }
            size += width
            end = reason.unicodeScalars.index(after: index)
        }
        return String(reason.unicodeScalars[..<end])
    }
    /// The most fingerprints one CHUNK_REQUEST may name, and one DATA frame may list.
    public static let maximumFingerprintsPerFrame = 4096
    /// The smallest frame payload limit a peer may announce.
    public static let minimumFrameLimit = 256 << 10
    /// The default limit on a frame's payload.
    public static let defaultFrameLimit = 2 << 20
}

/// The capabilities a peer announces in its hello, as bits of a 32-bit word.
public struct TunnelCapabilities: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The peer answers CHUNK_REQUEST frames (miss recovery).
    public static let chunkRecovery = TunnelCapabilities(rawValue: 1 << 0)
    /// The peer keeps a persistent chunk store, so references may survive a reconnect.
    public static let persistentStore = TunnelCapabilities(rawValue: 1 << 1)
}
