public import ReplicaCore

/// Where a link runs its encoder and decoder: the chunking, fingerprinting, compression and store calls of each
/// DATA frame.
///
/// On the link's own event loop, a batch is encoded right where it was read and its frame is sealed by TLS
/// right after, in the same thread and cache: no hand-over, no wake-up of another thread, no hop back. On
/// NIO's thread pool, each batch costs two hops (out to a pool thread and back), but the encoder of one link
/// runs beside its event loop, on another core.
///
/// A store whose calls may block (``ReplicaCore/ChunkReading/performsBlockingIO``: a ``ReplicaCore/DiskChunkStore``)
/// is only ever called from the pool, so that no event loop waits on a disk, whatever is chosen here.
public enum TunnelEngineExecution: Hashable, Sendable, CaseIterable {
    /// On the link's event loop when the store never blocks (a ``ReplicaCore/MemoryChunkStore``), else on the pool.
    /// The default: on a loopback bulk transfer it cuts the CPU per byte of both ends (docs/PERFORMANCE.md).
    case automatic
    /// Always on the pool: one link's encoder and its event loop work at once, on a machine with cores to spare
    /// for it.
    case threadPool

    /// Whether a link with `store` runs its engine on the thread pool.
    public func usesThreadPool(with store: any ChunkReading) -> Bool {
        switch self {
        case .automatic: store.performsBlockingIO
        case .threadPool: true
        }
    }
}
