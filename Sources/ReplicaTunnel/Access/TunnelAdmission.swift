import NIOCore
import Synchronization

/// How many peer connections a server holds at once, counted from accept (before the TLS handshake) to close,
/// so unauthenticated connections are bounded too. A connection past a limit is closed at once, before any
/// TLS work, with a rate-limited log line.
public struct TunnelAdmissionLimits: Hashable, Sendable {
    /// The most peer connections at once (default 1024).
    public var maximumLinks: Int
    /// The most peer connections at once from one source IP address (default 32).
    public var maximumLinksPerAddress: Int

    /// Creates checked limits.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` when a limit is below 1 or the per-address limit exceeds the
    ///   total.
    public init(maximumLinks: Int = 1024, maximumLinksPerAddress: Int = 32) throws(TunnelError) {
        guard maximumLinks >= 1, (1...maximumLinks).contains(maximumLinksPerAddress) else {
            throw TunnelError(
                .invalidArgument,
                "link limits: \(maximumLinks) in all and \(maximumLinksPerAddress) per address must be at least 1, "
                    + "the second at most the first")
        }
        self.maximumLinks = maximumLinks
        self.maximumLinksPerAddress = maximumLinksPerAddress
    }

    /// The defaults: 1024 links, 32 per source address.
    public static let standard = TunnelAdmissionLimits(uncheckedLinks: 1024, perAddress: 32)

    private init(uncheckedLinks: Int, perAddress: Int) {
        maximumLinks = uncheckedLinks
        maximumLinksPerAddress = perAddress
    }
}

/// Counts a server's peer connections, in all and per source address, and refuses those past the limits.
final class TunnelAdmission: Sendable {
    private struct State {
        var total = 0
        var perAddress: [[UInt8]: Int] = [:]
    }

    private let state: Mutex<State>
    private let current: Mutex<TunnelAdmissionLimits>

    init(limits: TunnelAdmissionLimits) {
        state = Mutex(State())
        current = Mutex(limits)
    }

    /// The limits new connections are checked against.
    var limits: TunnelAdmissionLimits {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    /// Admits a new connection and arranges for it to be counted until it closes.
    ///
    /// - Returns: `nil` when admitted, else why not.
    func admit(_ channel: any Channel) -> String? {
        let key = channel.remoteAddress.flatMap(TunnelNetwork.bytes(of:)) ?? []
        let limits = self.limits
        let refusal: String? = state.withLock { state in
            if state.total >= limits.maximumLinks { return "\(state.total) links are open (limit \(limits.maximumLinks))" }
            let mine = state.perAddress[key, default: 0]
            if mine >= limits.maximumLinksPerAddress {
                return "\(mine) links are open from this address (limit \(limits.maximumLinksPerAddress))"
            }
            state.total += 1
            state.perAddress[key] = mine + 1
            return nil
        }
        guard refusal == nil else { return refusal }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { state in
                state.total -= 1
                let left = state.perAddress[key, default: 1] - 1
                state.perAddress[key] = left > 0 ? left : nil
            }
        }
        return nil
    }

    /// Links open now (for tests and stats).
    var openLinks: Int { state.withLock { $0.total } }
}
