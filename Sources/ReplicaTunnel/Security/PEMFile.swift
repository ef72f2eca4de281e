#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and writes the small PEM files of a deployment: certificates, and private keys that only their
/// owner may read.
enum PEMFile {
    /// The most bytes a PEM file may hold: certificates and keys are a few KiB.
    static let maximumSize = 1 << 20

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads a whole file of at most ``maximumSize`` bytes.
    static func load(_ path: String) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
            if count == 0 { return bytes }
            bytes += buffer[..<count]
            guard bytes.count <= maximumSize else { throw Failure(description: "larger than 1 MiB") }
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file with `permissions` from its creation (so a key is
    /// never readable by others, even for a moment), fsync, rename over `path`, fsync of the directory.
    ///
    /// - Parameter replace: whether an existing `path` may be replaced.
    static func store(_ bytes: [UInt8], to path: String, permissions: mode_t, replace: Bool) throws(Failure) {
        func failure(_ call: String) -> Failure { Failure(description: "\(call) \(path): \(String(cString: strerror(errno)))") }
        if !replace, access(path, F_OK) == 0 { throw Failure(description: "\(path) exists (use --force to replace it)") }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let temporary = "\(directory)/.\(path[(slash.map { path.index(after: $0) } ?? path.startIndex)...]).tmp-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard descriptor >= 0 else { throw failure("create") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let error = failure("write")
                close(descriptor)
                unlink(temporary)
                throw error
            }
            written += count
        }
        guard fchmod(descriptor, permissions) == 0, fsync(descriptor) == 0 else {
            let error = failure("fsync")
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = failure("rename")
            unlink(temporary)
            throw error
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}
