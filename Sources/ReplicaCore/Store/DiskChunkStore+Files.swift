#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One open file of a ``DiskChunkStore``: a descriptor closed when the last reference goes away.
///
/// Readers take a reference under the store's lock and read outside it, so a segment evicted meanwhile stays
/// readable (its name is gone, its inode is not) and its descriptor number is never reused under a reader.
/// Every syscall of the disk store goes through this file; each failure becomes a ``ChunkStoreError`` naming
/// the call, the path and the errno.
final class StoreFile: Sendable {
    let descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { _ = close(descriptor) }

    /// Opens `path` for reading and writing, or only reading. Wraps `open(2)`.
    static func open(
        _ path: String, create: Bool, exclusive: Bool = false, readOnly: Bool = false
    ) throws(ChunkStoreError) -> StoreFile {
        var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        if create { flags |= O_CREAT }
        if exclusive { flags |= O_EXCL }
        let descriptor = retrying { Platform.open(path, flags, 0o644) }
        guard descriptor >= 0 else { throw StoreIO.error("open", path, errno) }
        return StoreFile(descriptor: descriptor, path: path)
    }

    /// The file's size in bytes. Wraps `fstat(2)`.
    func size() throws(ChunkStoreError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StoreIO.error("fstat", path, errno) }
        return Int(info.st_size)
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file. Wraps `pread(2)`.
    func read(count: Int, at offset: Int) throws(ChunkStoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return retrying { pread(descriptor, base + done, count - done, off_t(offset + done)) }
            }
            guard got >= 0 else { throw StoreIO.error("pread", path, errno) }
            if got == 0 { break }
            done += got
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// Writes all of `bytes` at `offset`. Wraps `pwrite(2)`.
    /// - Throws: ``ChunkStoreError``; on `ENOSPC` the message says the disk is full. Part of the bytes may have
    ///   been written: the caller truncates them away.
    func write(_ bytes: [UInt8], at offset: Int) throws(ChunkStoreError) {
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return retrying { pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done)) }
            }
            guard wrote > 0 else { throw StoreIO.error("pwrite", path, wrote == 0 ? ENOSPC : errno) }
            done += wrote
        }
    }

    /// Cuts the file to `size` bytes. Wraps `ftruncate(2)`.
    func truncate(to size: Int) throws(ChunkStoreError) {
        guard retrying({ ftruncate(descriptor, off_t(size)) }) == 0 else {
            throw StoreIO.error("ftruncate", path, errno)
        }
    }

    /// Forces the file's data to disk. Wraps `fsync(2)`.
    func sync() throws(ChunkStoreError) {
        guard retrying({ fsync(descriptor) }) == 0 else { throw StoreIO.error("fsync", path, errno) }
    }

    /// Takes an exclusive `flock(2)` without waiting; `false` when another open file holds it.
    func tryLockExclusive() throws(ChunkStoreError) -> Bool {
        if retrying({ flock(descriptor, LOCK_EX | LOCK_NB) }) == 0 { return true }
        if errno == EWOULDBLOCK { return false }
        throw StoreIO.error("flock", path, errno)
    }
}

/// Path-level syscalls of the disk store and the errno-to-error mapping.
enum StoreIO {
    /// The error for a failed `call` on `path`, naming `ENOSPC` in words an operator acts on.
    static func error(_ call: String, _ path: String, _ code: Int32) -> ChunkStoreError {
        if code == ENOSPC {
            return ChunkStoreError(
                .noSpace, "disk full (ENOSPC) writing \(path); the store is unchanged, free space or lower its capacity",
                cause: SystemCallError(call: call, errno: code, reason: String(cString: strerror(code))))
        }
        let cause = SystemCallError(call: call, errno: code, reason: String(cString: strerror(code)))
        return ChunkStoreError(.ioFailure, "\(call) \(path) failed: \(cause.reason) (errno \(code))", cause: cause)
    }

    /// Whether anything exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates a directory unless it exists. Wraps `mkdir(2)`.
    static func makeDirectory(_ path: String) throws(ChunkStoreError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw error("mkdir", path, errno) }
    }

    /// The names in a directory, without `.` and `..`. Wraps `opendir(3)`/`readdir(3)`.
    static func list(_ path: String) throws(ChunkStoreError) -> [String] {
        guard let directory = opendir(path) else { throw error("opendir", path, errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file; a missing file is not an error. Wraps `unlink(2)`.
    static func remove(_ path: String) throws(ChunkStoreError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw error("unlink", path, errno) }
    }

    /// Renames atomically. Wraps `rename(2)`.
    static func rename(_ from: String, to: String) throws(ChunkStoreError) {
        guard Platform.rename(from, to) == 0 else { throw error("rename", to, errno) }
    }

    /// Makes a directory's entries (creations, renames, unlinks) durable. Wraps `fsync(2)` on the directory.
    static func syncDirectory(_ path: String) throws(ChunkStoreError) {
        let descriptor = retrying { Platform.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw error("open", path, errno) }
        defer { _ = close(descriptor) }
        guard retrying({ fsync(descriptor) }) == 0 else { throw error("fsync", path, errno) }
    }

    /// Writes a whole small file atomically: a temporary file, `fsync`, `rename`, then the directory's `fsync`.
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(ChunkStoreError) {
        let temporary = path + ".tmp"
        try remove(temporary)
        do throws(ChunkStoreError) {
            let file = try StoreFile.open(temporary, create: true, exclusive: true)
            try file.write(bytes, at: 0)
            try file.sync()
            try rename(temporary, to: path)
        } catch {
            try? remove(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Pauses the calling thread. Wraps `nanosleep(2)`.
    static func sleep(milliseconds: Int) {
        var pause = timespec(tv_sec: milliseconds / 1000, tv_nsec: milliseconds % 1000 * 1_000_000)
        _ = nanosleep(&pause, nil)
    }

    /// The current process id, for the lock file.
    static var processID: Int { Int(getpid()) }

    /// A monotonic clock in milliseconds, for the time-based durability policy.
    static var milliseconds: UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }
}

/// Runs a syscall again while it fails with `EINTR`.
private func retrying<T: FixedWidthInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}
