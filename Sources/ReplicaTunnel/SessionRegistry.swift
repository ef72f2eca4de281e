import NIOCore
import Synchronization

/// The links an endpoint has up, readable from any thread: their counters, a way to drain each, and when each
/// closes.
final class SessionRegistry: Sendable {
    private struct Entry {
        let statistics: TunnelStatisticsBox
        let session: NIOLoopBound<PeerSession>
        let closed: EventLoopFuture<Void>
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    /// Records a session until its channel closes. Must run on the channel's event loop.
    func add(_ session: PeerSession, channel: any Channel) {
        let key = ObjectIdentifier(session)
        let entry = Entry(
            statistics: session.statistics, session: NIOLoopBound(session, eventLoop: channel.eventLoop),
            closed: channel.closeFuture)
        entries.withLock { $0[key] = entry }
        TunnelMetrics.shared.linkOpened()
        channel.closeFuture.whenComplete { _ in
            self.entries.withLock { _ = $0.removeValue(forKey: key) }
            TunnelMetrics.shared.linkClosed(entry.statistics.snapshot)
        }
    }

    /// The counters of every link up now.
    var statistics: [TunnelStatistics] { entries.withLock { $0.values.map(\.statistics.snapshot) } }

    /// The pool-job counters of every link up now.
    var poolJobs: [TunnelStatisticsBox.PoolJobs] { entries.withLock { $0.values.map(\.statistics.poolJobs) } }

    /// Asks every link to drain, and waits until all have closed.
    func drainAll() async {
        let all = entries.withLock { Array($0.values) }
        for entry in all {
            let session = entry.session
            session.eventLoop.execute { session.value.drain() }
        }
        for entry in all { try? await entry.closed.get() }
    }
}
