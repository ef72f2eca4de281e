public import NIOCore

/// The bounds on what one peer can make this end spend, beyond the flow-control windows of
/// ``TunnelConfiguration``. Each has a default; `docs/PROTOCOL.md` lists them and what happens past each.
public struct TunnelLimits: Hashable, Sendable {
    /// RESET frames from the peer. Past it the link is closed (the HTTP/2 rapid-reset defence).
    public var resetRate: TunnelRateLimit
    /// OPEN frames from the peer. Past it the link is closed.
    public var openRate: TunnelRateLimit
    /// PING frames from the peer. Past it the link is closed.
    public var pingRate: TunnelRateLimit
    /// CHUNK_REQUEST frames from the peer. Past it the link is closed.
    public var chunkRequestRate: TunnelRateLimit
    /// Replies (PONG, CHUNK_REPLY) written but not yet taken by the socket: past this many frames, or past
    /// ``maximumQueuedControlBytes``, the link is closed. At an eighth of either, reading from the peer pauses
    /// until half of the queue has drained.
    public var maximumQueuedControlFrames: Int
    /// The byte cap of the reply queue; see ``maximumQueuedControlFrames``.
    public var maximumQueuedControlBytes: Int
    /// Encoded bytes of DATA (and the frames behind it) held while a DATA frame is decoded or its missing chunks
    /// are fetched, beyond the link budget (a peer within its credit never needs more than the budget plus frame
    /// overheads). Past the budget plus this the link is closed.
    public var maximumMissQueueBytes: Int
    /// How long a CHUNK_REQUEST may stay unanswered. Past it the link is closed.
    public var chunkReplyTimeout: TimeAmount
    /// Requested fingerprints this end will not answer (never referenced on this link, no longer retained, or
    /// already answered as often as they were referenced) before the link is closed. Each gets a "not
    /// available" reply until then, never the chunk.
    public var unscopedChunkRequestBudget: Int
    /// A stream on which nothing moved (no byte either way, no credit) for this long is reset.
    public var streamIdleTimeout: TimeAmount
    /// How many chunks the sender remembers per peer store as held by that peer (shared by every link with it).
    /// Only those are sent as references; a chunk forgotten is sent as a literal again. About 56 bytes each.
    public var knownChunksPerPeer: Int
    /// The decoder's memory limit for the peer's stream: a peer header that needs more (a larger window) is
    /// refused before anything is allocated for it.
    public var decoderMemoryLimit: Int

    /// Creates checked limits with the documented defaults.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the first value out of range.
    public init(
        resetRate: TunnelRateLimit? = nil,
        openRate: TunnelRateLimit? = nil,
        pingRate: TunnelRateLimit? = nil,
        chunkRequestRate: TunnelRateLimit? = nil,
        maximumQueuedControlFrames: Int = 10_000,
        maximumQueuedControlBytes: Int = 16 << 20,
        maximumMissQueueBytes: Int = 16 << 20,
        chunkReplyTimeout: TimeAmount = .seconds(10),
        unscopedChunkRequestBudget: Int = 4096,
        streamIdleTimeout: TimeAmount = .minutes(15),
        decoderMemoryLimit: Int = 128 << 20,
        knownChunksPerPeer: Int = 1 << 18
    ) throws(TunnelError) {
        func check(_ ok: Bool, _ setting: String, _ message: String) throws(TunnelError) {
            if !ok { throw TunnelError(.invalidArgument, "\(setting): \(message)") }
        }
        try check(maximumQueuedControlFrames >= 16, "maximumQueuedControlFrames", "must be at least 16")
        try check(maximumQueuedControlBytes >= 1 << 20, "maximumQueuedControlBytes", "must be at least 1 MiB")
        try check(maximumMissQueueBytes >= 4 << 20, "maximumMissQueueBytes", "must be at least 4 MiB")
        try check(chunkReplyTimeout > .zero, "chunkReplyTimeout", "must be positive")
        try check(unscopedChunkRequestBudget >= 0, "unscopedChunkRequestBudget", "must not be negative")
        try check(streamIdleTimeout > .zero, "streamIdleTimeout", "must be positive")
        try check(decoderMemoryLimit >= 16 << 20, "decoderMemoryLimit", "must be at least 16 MiB")
        try check(knownChunksPerPeer >= 1024, "knownChunksPerPeer", "must be at least 1024")
        self.resetRate = resetRate ?? TunnelRateLimit(uncheckedBurst: 400, perSecond: 200)
        self.openRate = openRate ?? TunnelRateLimit(uncheckedBurst: 1000, perSecond: 500)
        self.pingRate = pingRate ?? TunnelRateLimit(uncheckedBurst: 50, perSecond: 10)
        self.chunkRequestRate = chunkRequestRate ?? TunnelRateLimit(uncheckedBurst: 256, perSecond: 64)
        self.maximumQueuedControlFrames = maximumQueuedControlFrames
        self.maximumQueuedControlBytes = maximumQueuedControlBytes
        self.maximumMissQueueBytes = maximumMissQueueBytes
        self.chunkReplyTimeout = chunkReplyTimeout
        self.unscopedChunkRequestBudget = unscopedChunkRequestBudget
        self.streamIdleTimeout = streamIdleTimeout
        self.decoderMemoryLimit = decoderMemoryLimit
        self.knownChunksPerPeer = knownChunksPerPeer
    }
}
