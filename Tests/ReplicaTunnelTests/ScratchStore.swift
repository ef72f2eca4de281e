#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ReplicaCore
import Synchronization

/// A `DiskChunkStore` in a fresh temporary directory, closed and deleted by ``remove()``: the store the tunnel
/// runs on in production, with eviction once `capacity` is full.
///
/// A store a test leaves (it threw before its cleanup) is deleted when the process exits, and stores of test
/// processes that were killed are deleted by the next one (see ``ScratchFiles``).
final class ScratchStore: Sendable {
    let store: DiskChunkStore
    let directory: String

    init(capacity: Int = 256 << 20) throws {
        directory = ScratchFiles.directory(prefix: ScratchFiles.storePrefix)
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
        ScratchFiles.remove(directory)
    }
}

/// Temporary directories of the tunnel tests (scratch stores, test certificates), deleted even when a test
/// skips its cleanup: the ones still there when the process exits are deleted then, and each process first
/// deletes those of test processes that no longer run (killed, or crashed), found by the process ID in their
/// name (`replica-tunnel-store-pid123-UUID`) or, for stores named before it was, in the store's lock file.
enum ScratchFiles {
    static let storePrefix = "replica-tunnel-store-"
    static let certificatePrefix = "replica-pki-"

    /// Directories made and not yet deleted.
    private static let live = Mutex<Set<String>>([])

    /// Runs once: deletes what dead test processes left, and has this one delete its own at exit.
    private static let prepared: Void = {
        removeAbandoned()
        atexit { ScratchFiles.removeLive() }
    }()

    /// A fresh path in the temporary directory (not created), deleted at exit unless ``remove(_:)`` was called.
    static func directory(prefix: String) -> String {
        _ = prepared
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "\(prefix)pid\(getpid())-\(UUID().uuidString)")
        live.withLock { _ = $0.insert(path) }
        return path
    }

    /// Deletes a directory made by ``directory(prefix:)``.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
        live.withLock { _ = $0.remove(path) }
    }

    private static func removeLive() {
        for path in live.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }

    private static func removeAbandoned() {
        let temporary = NSTemporaryDirectory()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporary) else { return }
        for name in names {
            guard let prefix = [storePrefix, certificatePrefix].first(where: { name.hasPrefix($0) }) else { continue }
            let path = (temporary as NSString).appendingPathComponent(name)
            let lock = try? String(contentsOfFile: (path as NSString).appendingPathComponent("lock"), encoding: .utf8)
            let rest = name.dropFirst(prefix.count)
            let owner =
                rest.hasPrefix("pid")
                ? Int32(rest.dropFirst(3).prefix { $0 != "-" })
                : lock.flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            // kill(pid, 0) fails with ESRCH only for a process that does not exist.
            guard let owner, owner != getpid(), kill(owner, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
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
