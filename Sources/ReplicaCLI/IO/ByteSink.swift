#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where encoded or decoded bytes go: a file being written atomically, or standard output.
protocol ByteSink: AnyObject {
    /// Writes all of `bytes`.
    func write(_ bytes: ArraySlice<UInt8>) throws(FileError)
}

/// Standard output. A closed pipe ends the process quietly by SIGPIPE, as it would `cat` or `zstd`.
final class StandardOutput: ByteSink {
    func write(_ bytes: ArraySlice<UInt8>) throws(FileError) {
        do {
            try Posix.writeAll(Posix.standardOutput, bytes, path: "stdout")
        } catch  where error.code == EPIPE {
            PendingOutputs.shared.terminate(by: SIGPIPE)
        }
    }
}
