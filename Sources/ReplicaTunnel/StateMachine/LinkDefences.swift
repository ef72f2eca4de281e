import NIOCore

/// A token bucket: up to ``burst`` events at once, refilled at ``perSecond``.
///
/// Pure: the caller passes the time, so tests drive it with any clock.
public struct TunnelRateLimit: Hashable, Sendable, CustomStringConvertible {
    /// The most events admitted at once after a quiet period.
    public var burst: Int
    /// The sustained rate admitted.
    public var perSecond: Int

    /// Creates a checked limit.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` when either value is below 1.
    public init(burst: Int, perSecond: Int) throws(TunnelError) {
        guard burst >= 1, perSecond >= 1 else {
            throw TunnelError(.invalidArgument, "a rate limit needs a burst and a rate of at least 1")
        }
        self.burst = burst
        self.perSecond = perSecond
    }

    /// A limit from constants known to be valid.
    init(uncheckedBurst burst: Int, perSecond: Int) {
        self.burst = burst
        self.perSecond = perSecond
    }

    public var description: String { "\(perSecond)/s (burst \(burst))" }
}

/// The state of one ``TunnelRateLimit``.
struct RateLimiter {
    let limit: TunnelRateLimit
    /// Tokens in nanosecond units: one event costs 1e9, time refills `perSecond` per nanosecond.
    private var credit: Int64
    private var last: NIODeadline?

    init(_ limit: TunnelRateLimit) {
        self.limit = limit
        self.credit = Int64(limit.burst) * 1_000_000_000
    }

    /// Admits one event at `now`, or refuses it when the bucket is empty.
    mutating func admit(at now: NIODeadline) -> Bool {
        let ceiling = Int64(limit.burst) * 1_000_000_000
        if let last, now > last {
            let elapsed = (now - last).nanoseconds
            let (refill, overflow) = elapsed.multipliedReportingOverflow(by: Int64(limit.perSecond))
            credit = overflow ? ceiling : min(ceiling, credit + min(refill, ceiling))
        }
        last = max(last ?? now, now)
        guard credit >= 1_000_000_000 else { return false }
        credit -= 1_000_000_000
        return true
    }
}

/// The frames a peer can send cheaply that cost this end work or memory, each behind its own rate limit, in the
/// manner of swift-nio-http2's `DOSHeuristics`. Past a limit the link is closed and the peer named as misbehaving.
struct LinkDefences {
    /// The frames that are rate-limited.
    enum Frame: String, CaseIterable, Sendable {
        case reset = "RESET"
        case ping = "PING"
        case chunkRequest = "CHUNK_REQUEST"
        case open = "OPEN"
    }

    private var resets: RateLimiter
    private var pings: RateLimiter
    private var chunkRequests: RateLimiter
    private var opens: RateLimiter

    init(_ limits: TunnelLimits) {
        resets = RateLimiter(limits.resetRate)
        pings = RateLimiter(limits.pingRate)
        chunkRequests = RateLimiter(limits.chunkRequestRate)
        opens = RateLimiter(limits.openRate)
    }

    /// Counts one frame of `kind` at `now`.
    ///
    /// - Returns: `nil` when it is within its limit, else the violation to close the link with.
    mutating func admit(_ kind: Frame, at now: NIODeadline) -> PeerViolation? {
        let admitted: Bool
        let limit: TunnelRateLimit
        switch kind {
        case .reset: (admitted, limit) = (resets.admit(at: now), resets.limit)
        case .ping: (admitted, limit) = (pings.admit(at: now), pings.limit)
        case .chunkRequest: (admitted, limit) = (chunkRequests.admit(at: now), chunkRequests.limit)
        case .open: (admitted, limit) = (opens.admit(at: now), opens.limit)
        }
        return admitted ? nil : .excessiveFrames(kind, limit)
    }
}
