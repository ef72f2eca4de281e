import Foundation
import ReplicaCore
import Synchronization

/// A `DiskChunkStore` in a fresh temporary directory, closed and deleted by ``remove()``: the store the tunnel
/// runs on in production, with eviction once `capacity` is full.
final class ScratchStore: Sendable {
    let store: DiskChunkStore
    let directory: String

    init(capacity: Int = 256 << 20) throws {
        directory = NSTemporaryDirectory() + "replica-tunnel-store-" + UUID().uuidString
        store = try DiskChunkStore(directory: directory, options: DiskChunkStore.Options(capacity: capacity))
    }

    /// Stores a test could not remove itself (a server restarted on one); see ``removeLeftovers()``.
    static let leftovers = Mutex<[ScratchStore]>([])

    /// Closes and deletes every store in ``leftovers``.
    static func removeLeftovers() {
        for store in leftovers.withLock({ $0 }) { store.remove() }
        leftovers.withLock { $0.removeAll() }
    }

    func remove() {
        try? store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// What the test process holds now, from `/proc/self`: the bounds the hostile-peer suite asserts on.
enum ProcessFootprint {
    /// Resident set size in bytes (`VmRSS`).
    static var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib << 10
    }

    /// Open file descriptors.
    static var openFiles: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }
}
