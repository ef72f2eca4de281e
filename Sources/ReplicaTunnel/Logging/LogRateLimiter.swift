public import Logging
public import NIOCore
import Synchronization

/// A token bucket for log lines: up to ``burst`` lines at once, then ``perSecond`` a second. Lines past the
/// limit are dropped and counted, and the next line that passes says how many were dropped, so a peer that
/// repeats an event cannot flood the log, and the operator still learns that it happened.
public final class LogRateLimiter: Sendable {
    /// The most lines let through at once.
    public let burst: Int
    /// Lines let through per second once the burst is spent.
    public let perSecond: Int
    private let clock: @Sendable () -> NIODeadline
    private struct State {
        var tokens: Double
        var last: NIODeadline
        var suppressed = 0
    }
    private let state: Mutex<State>

    /// Creates a limiter.
    ///
    /// - Parameter clock: the time source (a test passes a manual clock).
    public init(burst: Int = 20, perSecond: Int = 2, clock: @escaping @Sendable () -> NIODeadline = { .now() }) {
        self.burst = max(1, burst)
        self.perSecond = max(1, perSecond)
        self.clock = clock
        self.state = Mutex(State(tokens: Double(max(1, burst)), last: clock()))
    }

    /// Whether a line may be logged now; when it may, also how many lines were dropped since the last one.
    public func admit() -> (allowed: Bool, suppressed: Int) {
        let now = clock()
        return state.withLock { state in
            let elapsed = Double((now - state.last).nanoseconds) / 1e9
            state.last = now
            state.tokens = min(Double(burst), state.tokens + max(0, elapsed) * Double(perSecond))
            guard state.tokens >= 1 else {
                state.suppressed += 1
                return (false, 0)
            }
            state.tokens -= 1
            defer { state.suppressed = 0 }
            return (true, state.suppressed)
        }
    }
}

/// An endpoint's log: the operator's swift-log `Logger` behind rate limiters, one per kind of event and one per
/// peer link, so nothing a peer does can flood it. Lines are logged at `info`.
public final class TunnelLog: Sendable {
    private let sink: TunnelLogger
    private let clock: @Sendable () -> NIODeadline
    private let limiters = Mutex<[String: LogRateLimiter]>([:])

    /// Creates a log that writes to `logger`.
    ///
    /// - Parameter clock: the time source of the rate limiters (a test passes a manual clock).
    public convenience init(_ logger: Logger, clock: @escaping @Sendable () -> NIODeadline = { .now() }) {
        self.init(Self.sink(logger), clock: clock)
    }

    /// The line callback that writes to `logger` at `info`.
    package static func sink(_ logger: Logger) -> TunnelLogger { { line in logger.info("\(line)") } }

    /// A logger that drops everything: the library's default, so nothing is printed unless asked for.
    public static let silent = Logger(label: "replica.tunnel", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Creates a log that writes lines to `sink`.
    package init(_ sink: @escaping TunnelLogger, clock: @escaping @Sendable () -> NIODeadline = { .now() }) {
        self.sink = sink
        self.clock = clock
    }

    /// Logs a line that no peer can cause to repeat (start, stop, configuration).
    public func callAsFunction(_ line: String) { sink(line) }

    /// Logs a line of a kind of event a peer can repeat, within that kind's rate limit. `kind` is a fixed word
    /// from the code, never peer-supplied text.
    public func event(_ kind: String, _ line: String) {
        let limiter = limiters.withLock { all in
            if let limiter = all[kind] { return limiter }
            let limiter = LogRateLimiter(clock: clock)
            all[kind] = limiter
            return limiter
        }
        Self.write(line, through: limiter, to: sink)
    }

    /// A logger for one peer link, with its own rate limit.
    package func linkLogger() -> TunnelLogger {
        let limiter = LogRateLimiter(clock: clock)
        let sink = sink
        return { line in Self.write(line, through: limiter, to: sink) }
    }

    private static func write(_ line: String, through limiter: LogRateLimiter, to sink: TunnelLogger) {
        let (allowed, suppressed) = limiter.admit()
        guard allowed else { return }
        sink(suppressed > 0 ? "\(line) (\(suppressed) similar lines were suppressed)" : line)
    }

    /// `HOST:PORT` of a socket address, IPv6 in brackets.
    public static func format(_ address: SocketAddress) -> String {
        let host = address.ipAddress ?? "?"
        return (host.contains(":") ? "[\(host)]" : host) + ":\(address.port ?? 0)"
    }
}
