import Synchronization

/// Clear-box hooks for tests and the crash-test child: `package`, so they work in release builds too.
extension DiskChunkStore {
    /// Drops the store as a crash would: releases the lock without syncing or writing the index snapshot.
    package func simulateCrash() {
        writer.withLock { writer in
            writer.lock = nil
            state.withLock { $0.closed = true }
        }
    }

    /// Makes appends fail with `ENOSPC` (after writing what fits, as a full disk does) once `bytes` more bytes
    /// have been written; `nil` lifts the limit.
    package func simulateFreeSpace(_ bytes: Int?) {
        writer.withLock { $0.simulatedFreeBytes = bytes }
    }

    /// The segment files, oldest first.
    package var segmentPaths: [String] {
        state.withLock { $0.order }.map { segmentPath($0) }
    }

    /// The path of the index snapshot.
    package var indexPath: String { directory + "/" + StoreLayout.indexName }
}
