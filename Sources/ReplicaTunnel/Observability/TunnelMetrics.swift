import CoreMetrics
import NIOCore
import Synchronization

/// Why a peer connection ended before its link came up: the `reason` label of
/// `replica_handshake_failures_total`.
package enum HandshakeFailure: String, CaseIterable, Sendable {
    /// The server's admission limits (links in all, or per source address) refused the connection.
    case admission
    /// The TLS handshake did not finish within the handshake timeout.
    case timeout
    /// The peer's certificate chain is not trusted: another CA, expired, not pinned.
    case untrustedCertificate = "untrusted_certificate"
    /// The peer's certificate is trusted but names no one, or not the expected name.
    case peerName = "peer_name"
    /// Any other TLS failure: a plaintext peer, a protocol alert, a peer that hung up mid-handshake.
    case tls = "tls_error"
    /// The peer's hello speaks another protocol version.
    case versionMismatch = "version_mismatch"
    /// The peer's hello announced another fingerprint key.
    case fingerprintKey = "fingerprint_key"
    /// The peer sent something other than a usable hello first.
    case badHello = "bad_hello"
}

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
    private let handshakeFailures: [HandshakeFailure: Counter]
    private let handshakeFailureTally = Mutex<[HandshakeFailure: Int]>([:])
    /// Time from a batch taken from a flow to its DATA frame queued on the link (encoding included, on the pool or the
    /// event loop).
    private let frameEncode = Timer(label: "replica_frame_seconds", dimensions: [("stage", "encode")])
    /// Time from a DATA frame received to its bytes handed to the flow's socket (decoding and chunk fetches).
    private let frameDecode = Timer(label: "replica_frame_seconds", dimensions: [("stage", "decode")])
    /// Time from a flush of the peer link to the socket taking the last frame written before it.
    private let flush = Timer(label: "replica_flush_seconds")
    /// Time of each `fsync` of the disk store's segment data.
    private let storeSync = Timer(label: "replica_store_fsync_seconds")

    /// The histogram buckets of the tunnel's timers, by metric name, for the metrics backend (swift-prometheus's
    /// `durationHistogramBuckets`): 50 µs to 1 s for frames and flushes, 100 µs to 10 s for the store's fsync.
    package static let histogramBuckets: [String: [Duration]] = [
        "replica_frame_seconds": latencyBuckets,
        "replica_flush_seconds": latencyBuckets,
        "replica_store_fsync_seconds": [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
        ],
    ]

    private static let latencyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
    ]

    private init() {
        // Every reason exists from the start (at 0), so a dashboard's rate() sees the first failure.
        var failures: [HandshakeFailure: Counter] = [:]
        for reason in HandshakeFailure.allCases {
            failures[reason] = Counter(
                label: "replica_handshake_failures_total", dimensions: [("reason", reason.rawValue)])
        }
        handshakeFailures = failures
    }

    /// Counts a peer connection that failed before its link came up.
    func handshakeFailed(_ reason: HandshakeFailure) {
        handshakeFailures[reason]?.increment()
        handshakeFailureTally.withLock { $0[reason, default: 0] += 1 }
    }

    /// Handshake failures of this reason counted in this process so far (what the counter holds).
    package func handshakeFailureCount(_ reason: HandshakeFailure) -> Int {
        handshakeFailureTally.withLock { $0[reason, default: 0] }
    }

    /// Records a frame's encode or decode time, from `start` until now.
    func frameDone(encode: Bool, since start: NIODeadline) {
        (encode ? frameEncode : frameDecode).recordNanoseconds(Self.elapsed(since: start))
    }

    /// Records a flush's time, from `start` until now.
    func flushDone(since start: NIODeadline) { flush.recordNanoseconds(Self.elapsed(since: start)) }

    /// Records an `fsync` of the store (``DiskChunkStore/syncObserver``).
    package func storeSynced(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        storeSync.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private static func elapsed(since start: NIODeadline) -> Int64 { max(0, (NIODeadline.now() - start).nanoseconds) }

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
