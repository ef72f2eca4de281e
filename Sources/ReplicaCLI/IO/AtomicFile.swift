/// A file being written: finished with ``commit()``, or abandoned with ``discard()``.
protocol OutputFile: ByteSink {
    /// Finishes the file.
    func commit() throws(FileError)
    /// Abandons the file after a failure.
    func discard()
}

/// An existing special file (`/dev/null`, a FIFO, a terminal) written in place: it cannot be replaced by a
/// rename, and replacing a device node with a regular file would be wrong.
final class SpecialFile: OutputFile {
    private let path: String
    private let descriptor: Int32
    private var isOpen = true

    /// Opens `path` for writing.
    init(path: String) throws(FileError) {
        self.path = path
        descriptor = try Posix.openForWriting(path)
    }

    func write(_ bytes: ArraySlice<UInt8>) throws(FileError) {
        try Posix.writeAll(descriptor, bytes, path: path)
    }

    func commit() throws(FileError) {
        isOpen = false
        try Posix.closeDescriptor(descriptor, path: path)
    }

    func discard() {
        if isOpen { try? Posix.closeDescriptor(descriptor, path: path) }
        isOpen = false
    }
}

/// An output file that appears at its path complete or not at all.
///
/// Bytes go to a hidden temporary file in the target's directory (so the final rename stays on one file
/// system); ``commit()`` renames it over the target, and ``discard()`` removes it. The temporary file is
/// registered with ``PendingOutputs``, so a signal removes it too.
final class AtomicFile: OutputFile {
    /// The path the file will have once committed.
    let path: String
    /// Where the bytes are written until then.
    let temporaryPath: String
    private let descriptor: Int32
    private let token: UInt64
    private var isOpen = true

    /// Creates the temporary file next to `path`.
    ///
    /// - Parameter permissions: the final file's permission bits.
    /// - Throws: ``FileError`` naming `path` when the temporary file cannot be created.
    init(path: String, permissions: UInt32) throws(FileError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        temporaryPath = "\(directory).\(name).\(suffix).tmp"
        // Register first: a signal between open and register would otherwise leave the file behind.
        token = PendingOutputs.shared.register(temporaryPath)
        do {
            descriptor = try Posix.createExclusive(temporaryPath, permissions: 0o600)
        } catch {
            PendingOutputs.shared.withdraw(token)
            throw FileError(path: path, message: error.message)
        }
        do {
            try Posix.setPermissions(descriptor, permissions, path: path)
        } catch {
            discard()
            throw error
        }
    }

    func write(_ bytes: ArraySlice<UInt8>) throws(FileError) {
        try Posix.writeAll(descriptor, bytes, path: path)
    }

    /// Closes the temporary file and renames it to ``path``.
    ///
    /// - Throws: ``FileError`` when closing or renaming fails; the temporary file is removed then.
    func commit() throws(FileError) {
        isOpen = false
        do throws(FileError) {
            try Posix.closeDescriptor(descriptor, path: path)
            let committed = try PendingOutputs.shared.commit(token) { () throws(FileError) in
                try Posix.renameFile(temporaryPath, to: path)
            }
            if !committed { throw FileError(path: path, message: "interrupted") }
        } catch {
            try? Posix.removeFile(temporaryPath)
            PendingOutputs.shared.withdraw(token)
            throw error
        }
    }

    /// Closes and removes the temporary file; the target is left as it was.
    func discard() {
        if isOpen { try? Posix.closeDescriptor(descriptor, path: path) }
        isOpen = false
        try? Posix.removeFile(temporaryPath)
        PendingOutputs.shared.withdraw(token)
    }
}
