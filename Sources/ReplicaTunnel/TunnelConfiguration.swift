public import NIOCore
public import ReplicaCore

/// Everything a tunnel endpoint needs to know: the engine's settings, flow-control windows, limits and timers.
public struct TunnelConfiguration: Sendable {
    /// How each direction's encoder cuts, compresses and references.
    public var encoder: EncoderConfiguration
    /// The receive credit granted to each new stream, in decoded bytes.
    public var streamWindow: Int
    /// The most a stream's window may grow to. A window doubles when the stream used all of it within two
    /// round trips (its reader keeps up and the window, not the link, limits it), so windows tune themselves
    /// towards the bandwidth-delay product; a slow reader never grows its window.
    public var maximumStreamWindow: Int
    /// The most decoded bytes in flight over one peer link in each direction (sent, not yet credited back).
    /// It bounds the receiver's buffering for the whole link and the sender's chunk retention.
    public var linkBudget: Int
    /// The most application bytes carried by one DATA frame. The default, 192 KiB, keeps an encoded batch
    /// (raw blocks of incompressible bytes, their headers and the reference list) under the smallest frame limit
    /// a peer may announce (``TunnelProtocol/minimumFrameLimit``, 256 KiB), while a bulk flow pays the hops to the
    /// encoder's thread (when ``engineExecution`` uses the pool) once per 192 KiB rather than once per 64 KiB (or
    /// less: one pool job encodes up to 4 batches of a flow that has them pending, each its own DATA frame).
    public var batchLimit: Int
    /// The largest frame payload accepted from the peer.
    public var frameLimit: Int
    /// The most streams open at once on one link, counting those whose target connection is still pending: the
    /// flows one client may hold on one link. An OPEN past it is reset with `tooManyStreams`.
    public var maximumStreams: Int
    /// How often a PING is sent on an idle-or-not link.
    public var keepaliveInterval: TimeAmount
    /// How long the peer may stay silent (no frame of any kind) before the link is declared dead.
    public var keepaliveTimeout: TimeAmount
    /// The first reconnect delay of a client; it doubles up to ``reconnectMaximumDelay``, with jitter.
    public var reconnectInitialDelay: TimeAmount
    /// The longest reconnect delay of a client.
    public var reconnectMaximumDelay: TimeAmount
    /// How long a client holds a new local connection while its link is down before refusing it; zero refuses
    /// at once (fail fast).
    public var linkWait: TimeAmount
    /// How long a graceful shutdown lets open flows drain before resetting them.
    public var drainTimeout: TimeAmount
    /// The DNS server a tunnel server resolves target names with (a dnsmasq cache, usually); `nil` uses the
    /// system's resolver (getaddrinfo).
    public var resolver: TunnelTarget? = nil
    /// The bounds on what one peer can make this end spend: rate limits, reply and miss queues, timeouts.
    public var limits: TunnelLimits
    /// Where links run their encoders and decoders: on their event loops when the store never blocks, by
    /// default. A store that may block is only ever called from the thread pool.
    public var engineExecution: TunnelEngineExecution

    /// Creates a checked configuration.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the first setting out of range.
    public init(
        encoder: EncoderConfiguration? = nil,
        streamWindow: Int = 1 << 20,
        maximumStreamWindow: Int = 16 << 20,
        linkBudget: Int = 64 << 20,
        batchLimit: Int = 192 << 10,
        frameLimit: Int = TunnelProtocol.defaultFrameLimit,
        maximumStreams: Int = 4096,
        keepaliveInterval: TimeAmount = .seconds(5),
        keepaliveTimeout: TimeAmount = .seconds(15),
        reconnectInitialDelay: TimeAmount = .milliseconds(100),
        reconnectMaximumDelay: TimeAmount = .seconds(5),
        linkWait: TimeAmount = .zero,
        drainTimeout: TimeAmount = .seconds(5),
        limits: TunnelLimits? = nil,
        engineExecution: TunnelEngineExecution = .automatic
    ) throws {
        func check(_ ok: Bool, _ setting: String, _ message: String) throws(TunnelError) {
            if !ok { throw TunnelError(.invalidArgument, "\(setting): \(message)") }
        }
        try check((4 << 10)...(1 << 30) ~= streamWindow, "streamWindow", "\(streamWindow) is outside 4 KiB...1 GiB")
        try check(
            streamWindow...(1 << 30) ~= maximumStreamWindow, "maximumStreamWindow",
            "\(maximumStreamWindow) must be at least the stream window and at most 1 GiB")
        try check(
            streamWindow...(Int(UInt32.max)) ~= linkBudget, "linkBudget",
            "\(linkBudget) must be at least the stream window and below 4 GiB")
        try check((1 << 10)...(192 << 10) ~= batchLimit, "batchLimit", "\(batchLimit) is outside 1 KiB...192 KiB")
        try check(
            TunnelProtocol.minimumFrameLimit...(64 << 20) ~= frameLimit, "frameLimit",
            "\(frameLimit) is outside 256 KiB...64 MiB")
        try check((1...1_000_000) ~= maximumStreams, "maximumStreams", "\(maximumStreams) is outside 1...1000000")
        try check(keepaliveInterval > .zero, "keepaliveInterval", "must be positive")
        try check(keepaliveTimeout > keepaliveInterval, "keepaliveTimeout", "must exceed the keepalive interval")
        try check(linkWait >= .zero, "linkWait", "must not be negative")
        try check(
            reconnectInitialDelay > .zero && reconnectMaximumDelay >= reconnectInitialDelay, "reconnect delays",
            "must be positive, the maximum at least the initial")
        let engine = try encoder ?? Self.defaultEncoder()
        // Each direction's decoder keeps zstd's history within the link's decoder memory limit, so the long window
        // is capped at 2^25 bytes. Store runs name chunks in the order of each DATA frame's reference list (see
        // LinkEncoder and PinnedStore), never the receiver's store order, which differs on a hub.
        let longWindowLog = engine.codec.longWindowLog.map { min($0, Self.defaultLongWindowLog) }
        self.encoder = try EncoderConfiguration(
            chunker: engine.chunker,
            codec: CodecConfiguration(engine.codec.kind, level: engine.codec.level, longWindowLog: longWindowLog),
            windowSize: engine.windowSize, blockSize: engine.blockSize, fingerprinter: engine.fingerprinter,
            storeRuns: engine.storeRuns)
        self.streamWindow = streamWindow
        self.maximumStreamWindow = maximumStreamWindow
        self.linkBudget = linkBudget
        self.batchLimit = batchLimit
        self.frameLimit = frameLimit
        self.maximumStreams = maximumStreams
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaximumDelay = reconnectMaximumDelay
        self.linkWait = linkWait
        self.drainTimeout = drainTimeout
        self.limits = try limits ?? TunnelLimits()
        self.engineExecution = engineExecution
    }

    /// The long-distance window log of the tunnel's zstd: 25 (32 MiB, as its reference window), so each
    /// direction of a link keeps 32 MiB of zstd history rather than the CLI's 128 MiB.
    public static let defaultLongWindowLog = 25

    /// The tunnel's default engine: 8 KiB average chunks, zstd level 1 with a 32 MiB long-distance window, a
    /// 32 MiB reference window.
    public static func defaultEncoder() throws -> EncoderConfiguration {
        try EncoderConfiguration(
            codec: CodecConfiguration(.zstd, level: 1, longWindowLog: defaultLongWindowLog), windowSize: 32 << 20,
            blockSize: 64 << 10)
    }
}
