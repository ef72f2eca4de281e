/// A file or standard input, read in pieces.
final class InputFile {
    /// The name used in messages: the path as given, or `stdin`.
    let displayName: String
    /// What `fstat` said when the file was opened.
    let status: FileStatus
    private let descriptor: Int32
    private let ownsDescriptor: Bool

    /// Whether this is standard input.
    var isStandardInput: Bool { !ownsDescriptor }
    /// The size to expect, for regular files.
    var expectedSize: UInt64? { status.isRegularFile ? status.size : nil }

    /// Opens `path`, or standard input for `-`.
    ///
    /// - Throws: ``FileError`` when the file cannot be opened or is a directory.
    init(path: String) throws(FileError) {
        if path == "-" {
            displayName = "stdin"
            descriptor = Posix.standardInput
            ownsDescriptor = false
        } else {
            displayName = path
            descriptor = try Posix.openForReading(path)
            ownsDescriptor = true
        }
        do {
            status = try Posix.status(of: descriptor, path: displayName)
        } catch {
            if ownsDescriptor { try? Posix.closeDescriptor(descriptor, path: path) }
            throw error
        }
        if status.isDirectory {
            try? Posix.closeDescriptor(descriptor, path: path)
            throw FileError(path: path, message: "is a directory")
        }
    }

    deinit {
        if ownsDescriptor { try? Posix.closeDescriptor(descriptor, path: displayName) }
    }

    /// Whether the input is a terminal, where compressed data should never be read from.
    var isTerminal: Bool { Posix.isTerminal(descriptor) }

    /// Reads the next piece into `buffer` (up to its count) and returns its length, 0 at the end.
    func read(into buffer: inout [UInt8]) throws(FileError) -> Int {
        try Posix.readSome(descriptor, into: &buffer, path: displayName)
    }
}
