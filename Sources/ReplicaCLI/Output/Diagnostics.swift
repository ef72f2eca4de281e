/// Messages to the operator: errors as `replica: PATH: what went wrong` on stderr, and text on stdout.
enum Diagnostics {
    /// Reports a failure about `path`. A ``FileError`` names its own path (an output file, `stdout`).
    static func report(_ error: any Error, path: String) {
        if let error = error as? FileError {
            printError("\(error.path): \(error.message)")
        } else {
            printError("\(path): \(error)")
        }
    }

    /// Writes `replica: message` and a newline to stderr.
    static func printError(_ message: String) {
        writeStandardError("replica: \(message)\n")
    }

    /// Writes text to stderr, ignoring failures: there is nowhere left to report them.
    static func writeStandardError(_ text: String) {
        try? Posix.writeAll(Posix.standardError, Array(text.utf8)[...], path: "stderr")
    }
}

/// Lines for stdout, written in batches through ``StandardOutput`` so a closed pipe ends the process quietly.
final class TextOutput {
    private let sink = StandardOutput()
    private var pending: [UInt8] = []

    /// Adds a line; it is written once 64 KiB are pending, or at ``flush()``.
    func line(_ text: String) throws(FileError) {
        pending += text.utf8
        pending.append(0x0A)
        if pending.count >= 64 << 10 { try flush() }
    }

    /// Writes everything pending.
    func flush() throws(FileError) {
        guard !pending.isEmpty else { return }
        try sink.write(pending[...])
        pending.removeAll(keepingCapacity: true)
    }
}
