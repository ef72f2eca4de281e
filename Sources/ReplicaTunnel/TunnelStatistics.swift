import Synchronization

/// The counters of one peer link, as read by the library API and printed by `--stats-interval`.
public struct TunnelStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Application bytes read from local connections and sent to the peer.
    public var applicationBytesSent: UInt64 = 0
    /// Application bytes received from the peer and delivered to local connections.
    public var applicationBytesReceived: UInt64 = 0
    /// Application bytes sent without a compression attempt because their flow looked incompressible (part of
    /// ``applicationBytesSent``); they are still deduplicated.
    public var plainBytesSent: UInt64 = 0
    /// Bytes written to the peer link (frames of every kind).
    public var wireBytesSent: UInt64 = 0
    /// Bytes read from the peer link.
    public var wireBytesReceived: UInt64 = 0
    /// Chunks the sending engine replaced by a reference (window or store).
    public var chunkHits: UInt64 = 0
    /// Chunks the sending engine cut in all.
    public var chunks: UInt64 = 0
    /// Referenced chunks the local store lacked when a DATA frame arrived.
    public var chunkMisses: UInt64 = 0
    /// CHUNK_REQUEST frames sent (asks).
    public var chunkRequests: UInt64 = 0
    /// Chunks sent to the peer in CHUNK_REPLY frames (retransmitted).
    public var chunksRetransmitted: UInt64 = 0
    /// Streams open now.
    public var activeFlows: Int = 0
    /// Streams opened since the link came up.
    public var openedFlows: UInt64 = 0
    /// Streams reset (by either side) since the link came up.
    public var resetFlows: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Application bytes sent per wire byte sent (0 before anything is sent).
    public var reductionRatio: Double {
        wireBytesSent == 0 ? 0 : Double(applicationBytesSent) / Double(wireBytesSent)
    }

    public var description: String {
        "app out \(applicationBytesSent) in \(applicationBytesReceived), wire out \(wireBytesSent) in "
            + "\(wireBytesReceived), plain out \(plainBytesSent), ratio \((reductionRatio * 100).rounded() / 100), chunks \(chunks) hits "
            + "\(chunkHits) misses \(chunkMisses) asks \(chunkRequests) retransmitted \(chunksRetransmitted), "
            + "flows active \(activeFlows) opened \(openedFlows) reset \(resetFlows)"
    }
}

/// A thread-safe holder of one link's ``TunnelStatistics``: the event loop updates it, anyone reads it.
public final class TunnelStatisticsBox: Sendable {
    private let state = Mutex(TunnelStatistics())

    /// Creates zeroed counters.
    public init() {}

    /// A copy of the counters now.
    public var snapshot: TunnelStatistics { state.withLock { $0 } }

    /// The engine's jobs on the thread pool so far, and the DATA frames they took to encode or decode.
    struct PoolJobs: Equatable, Sendable {
        var encodeJobs = 0
        var encodeJobFrames = 0
        var decodeJobs = 0
        var decodeJobFrames = 0
    }

    private let jobs = Mutex(PoolJobs())

    /// A copy of the pool-job counters now.
    var poolJobs: PoolJobs { jobs.withLock { $0 } }

    /// Counts a job sent to the pool that encodes (or decodes) `frames` DATA frames.
    func countPoolJob(encode: Bool, frames: Int) {
        jobs.withLock {
            if encode {
                $0.encodeJobs += 1
                $0.encodeJobFrames += frames
            } else {
                $0.decodeJobs += 1
                $0.decodeJobFrames += frames
            }
        }
    }

    func update(_ body: (inout TunnelStatistics) -> Void) {
        let (old, new) = state.withLock { statistics in
            let old = statistics
            body(&statistics)
            return (old, statistics)
        }
        TunnelMetrics.shared.record(from: old, to: new)
    }
}
