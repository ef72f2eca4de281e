import CoreMetrics
import Synchronization

/// The tunnel's process-wide metrics, published through swift-metrics under names that start with `replica_`.
///
/// Every link's ``TunnelStatisticsBox`` reports each change here, so the counters add up over all links, those
/// closed included. Bootstrap a metrics backend (the CLI uses swift-prometheus) before the first link starts:
/// instruments are created on first use and bind to the backend bootstrapped then.
package final class TunnelMetrics: Sendable {
    /// The instruments of this process.
    package static let shared = TunnelMetrics()

    private let applicationBytesSent = Counter(label: "replica_app_bytes_total", dimensions: [("direction", "sent")])
    private let applicationBytesReceived = Counter(
        label: "replica_app_bytes_total", dimensions: [("direction", "received")])
    private let linkBytesSent = Counter(label: "replica_link_bytes_total", dimensions: [("direction", "sent")])
    private let linkBytesReceived = Counter(label: "replica_link_bytes_total", dimensions: [("direction", "received")])
    private let plainBytesSent = Counter(label: "replica_plain_bytes_sent_total")
    private let chunks = Counter(label: "replica_chunks_total")
    private let references = Counter(label: "replica_references_total")
    private let literals = Counter(label: "replica_literals_total")
    private let chunkRequests = Counter(label: "replica_chunk_requests_total")
    private let chunkMisses = Counter(label: "replica_chunk_misses_total")
    private let chunksRetransmitted = Counter(label: "replica_chunks_retransmitted_total")
    private let flowsOpened = Counter(label: "replica_flows_opened_total")
    private let flowsReset = Counter(label: "replica_flows_reset_total")
    private let flowsOpen = Meter(label: "replica_flows_open")
    private let links = Meter(label: "replica_links")
    private let linksOpened = Counter(label: "replica_links_opened_total")
    private let reductionRatio = Meter(label: "replica_reduction_ratio")
    private let totals = Mutex<(application: UInt64, link: UInt64)>((0, 0))

    private init() {}

    /// Adds what changed between two snapshots of one link's counters.
    func record(from old: TunnelStatistics, to new: TunnelStatistics) {
        func add(_ counter: Counter, _ before: UInt64, _ after: UInt64) {
            if after > before { counter.increment(by: after - before) }
        }
        add(applicationBytesSent, old.applicationBytesSent, new.applicationBytesSent)
        add(applicationBytesReceived, old.applicationBytesReceived, new.applicationBytesReceived)
        add(linkBytesSent, old.wireBytesSent, new.wireBytesSent)
        add(linkBytesReceived, old.wireBytesReceived, new.wireBytesReceived)
        add(plainBytesSent, old.plainBytesSent, new.plainBytesSent)
        add(chunks, old.chunks, new.chunks)
        add(references, old.chunkHits, new.chunkHits)
        let oldLiterals = old.chunks &- min(old.chunks, old.chunkHits)
        add(literals, oldLiterals, new.chunks &- min(new.chunks, new.chunkHits))
        add(chunkRequests, old.chunkRequests, new.chunkRequests)
        add(chunkMisses, old.chunkMisses, new.chunkMisses)
        add(chunksRetransmitted, old.chunksRetransmitted, new.chunksRetransmitted)
        add(flowsOpened, old.openedFlows, new.openedFlows)
        add(flowsReset, old.resetFlows, new.resetFlows)
        if new.activeFlows != old.activeFlows { flowsOpen.increment(by: Double(new.activeFlows - old.activeFlows)) }
        let sentApplication = new.applicationBytesSent &- old.applicationBytesSent
        let sentLink = new.wireBytesSent &- old.wireBytesSent
        if sentApplication != 0 || sentLink != 0 {
            let ratio = totals.withLock { totals in
                totals.application &+= sentApplication
                totals.link &+= sentLink
                return totals.link == 0 ? 0 : Double(totals.application) / Double(totals.link)
            }
            reductionRatio.set(ratio)
        }
    }

    /// Counts a peer link that came up.
    func linkOpened() {
        links.increment()
        linksOpened.increment()
    }

    /// Counts a peer link that closed; its open flows are gone with it.
    func linkClosed(_ last: TunnelStatistics) {
        links.decrement()
        if last.activeFlows != 0 { flowsOpen.decrement(by: Double(last.activeFlows)) }
    }
}
