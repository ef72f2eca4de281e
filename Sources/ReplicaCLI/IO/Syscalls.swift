#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
// Foundation (through Yams) is in this module's graph, and CoreFoundation re-exports the C library's `stat` and
// `timespec`: a release build (whole-module) resolves their members there, so it must be imported too.
#if canImport(CoreFoundation)
    import CoreFoundation
#endif

/// A failed operation on a named file, worded for an operator: `PATH: what went wrong`.
struct FileError: Error, CustomStringConvertible {
    /// The file the operation was about, as the user named it (`stdin` and `stdout` for the standard streams).
    let path: String
    /// What went wrong, for example `No such file or directory`.
    let message: String
    /// The `errno` value, when the failure came from a system call.
    let code: Int32?

    /// Creates an error with a message of our own.
    init(path: String, message: String) {
        self.path = path
        self.message = message
        self.code = nil
    }

    /// Creates an error from an `errno` value, worded by `strerror`.
    init(path: String, errno code: Int32) {
        self.path = path
        self.message = String(cString: strerror(code))
        self.code = code
    }

    var description: String { "\(path): \(message)" }
}

/// What `stat` says about a file that matters here.
struct FileStatus: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: UInt64
    let mode: UInt32
    // The file-type bits, as POSIX defines them on Linux and Darwin alike (spelled out: with CoreFoundation in
    // the graph, the C macros are ambiguous between two modules).
    var isDirectory: Bool { mode & 0o170000 == 0o040000 }
    var isRegularFile: Bool { mode & 0o170000 == 0o100000 }
    /// The permission bits.
    var permissions: UInt32 { mode & 0o7777 }

    /// Whether both name the same file.
    func isSameFile(as other: FileStatus) -> Bool { device == other.device && inode == other.inode }

    fileprivate init(_ raw: stat) {
        device = UInt64(raw.st_dev)
        inode = UInt64(raw.st_ino)
        size = UInt64(max(0, raw.st_size))
        mode = UInt32(raw.st_mode)
    }
}

/// Every system call the CLI makes, each retrying `EINTR` and throwing a ``FileError`` that names the path.
enum Posix {
    /// The standard file descriptors.
    static let standardInput: Int32 = 0
    static let standardOutput: Int32 = 1
    static let standardError: Int32 = 2

    /// Opens `path` for reading. Wraps `open(2)`.
    static func openForReading(_ path: String) throws(FileError) -> Int32 {
        Int32(try retrying(path) { open(path, O_RDONLY | O_CLOEXEC) })
    }

    /// Opens an existing `path` for writing, without truncating or creating it. Wraps `open(2)`.
    static func openForWriting(_ path: String) throws(FileError) -> Int32 {
        Int32(try retrying(path) { open(path, O_WRONLY | O_CLOEXEC) })
    }

    /// Creates `path`, which must not exist, for writing. Wraps `open(2)` with `O_CREAT | O_EXCL`.
    static func createExclusive(_ path: String, permissions: UInt32) throws(FileError) -> Int32 {
        Int32(try retrying(path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(permissions)) })
    }

    /// Reads at most `buffer.count` bytes into `buffer` and returns how many were read (0 at the end).
    /// Wraps `read(2)`.
    static func readSome(_ descriptor: Int32, into buffer: inout [UInt8], path: String) throws(FileError) -> Int {
        try retrying(path) {
            buffer.withUnsafeMutableBytes { raw in read(descriptor, raw.baseAddress, raw.count) }
        }
    }

    /// Writes all of `bytes`. Wraps `write(2)`, looping over short writes.
    static func writeAll(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>, path: String) throws(FileError) {
        var rest = bytes
        while !rest.isEmpty {
            let written = try retrying(path) {
                rest.withUnsafeBytes { raw in write(descriptor, raw.baseAddress, raw.count) }
            }
            rest = rest.dropFirst(written)
        }
    }

    /// Closes a descriptor, reporting a failure (a late write error on some file systems). Wraps `close(2)`.
    static func closeDescriptor(_ descriptor: Int32, path: String) throws(FileError) {
        // Linux closes the descriptor even when close fails with EINTR, so it must not be retried.
        guard close(descriptor) == 0 else { throw FileError(path: path, errno: errno) }
    }

    /// `fstat(2)`.
    static func status(of descriptor: Int32, path: String) throws(FileError) -> FileStatus {
        var raw = stat()
        guard fstat(descriptor, &raw) == 0 else { throw FileError(path: path, errno: errno) }
        return FileStatus(raw)
    }

    /// `stat(2)`, or `nil` when nothing exists at `path`.
    static func status(ofPath path: String) throws(FileError) -> FileStatus? {
        var raw = stat()
        guard stat(path, &raw) == 0 else {
            if errno == ENOENT { return nil }
            throw FileError(path: path, errno: errno)
        }
        return FileStatus(raw)
    }

    /// Sets the permission bits. Wraps `fchmod(2)`.
    static func setPermissions(_ descriptor: Int32, _ permissions: UInt32, path: String) throws(FileError) {
        _ = try retrying(path) { Int(fchmod(descriptor, mode_t(permissions))) }
    }

    /// Atomically replaces `target` with `source`. Wraps `rename(2)`.
    static func renameFile(_ source: String, to target: String) throws(FileError) {
        guard rename(source, target) == 0 else { throw FileError(path: target, errno: errno) }
    }

    /// Removes a file. Wraps `unlink(2)`.
    static func removeFile(_ path: String) throws(FileError) {
        guard unlink(path) == 0 else { throw FileError(path: path, errno: errno) }
    }

    /// The process's file-creation mask. Wraps `umask(2)`, setting it back at once.
    static func creationMask() -> UInt32 {
        let mask = umask(0)
        umask(mask)
        return UInt32(mask)
    }

    /// Ends the process with `status`, flushing stdio. Wraps `exit(3)`.
    static func exitProcess(_ status: Int32) -> Never { exit(status) }

    /// Whether the descriptor is a terminal. Wraps `isatty(3)`.
    static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

    /// Calls `body` until it does not fail with `EINTR`; a result of -1 becomes a ``FileError``.
    private static func retrying<Result: BinaryInteger>(
        _ path: String, _ body: () -> Result
    ) throws(FileError) -> Int {
        while true {
            let result = body()
            if result >= 0 { return Int(result) }
            let code = errno
            if code != EINTR { throw FileError(path: path, errno: code) }
        }
    }
}
