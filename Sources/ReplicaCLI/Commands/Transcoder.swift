import ReplicaCore

/// What compress and decompress share: naming each output, refusing to clobber, writing atomically, `--rm`,
/// progress and the `-v` line. Each input's failure is reported and the next input still runs.
struct Transcoder {
    /// Which way the bytes go; it decides the output's name and which side of the terminal is guarded.
    enum Direction {
        case compress, decompress
    }

    /// The suffix compress adds and decompress strips.
    static let suffix = ".rpl"

    let direction: Direction
    let options: OutputOptions
    /// Whether to run read, transform and write on three threads (`-T` above 1).
    var pipelined = false
    /// A fresh encoder or decoder for each input.
    let makeTransform: () throws -> any StreamTransform

    private enum Destination {
        case standardOutput
        case file(String)

        var displayName: String {
            switch self {
            case .standardOutput: "stdout"
            case .file(let path): path
            }
        }
    }

    /// Processes every input (`-` or none is standard input) and returns whether all succeeded.
    func run(_ paths: [String]) -> Bool {
        var succeeded = true
        for path in paths.isEmpty ? ["-"] : paths where !transcode(path) {
            succeeded = false
        }
        return succeeded
    }

    private func transcode(_ path: String) -> Bool {
        var pendingFile: (any OutputFile)?
        var progress: ProgressMeter?
        do {
            let input = try InputFile(path: path)
            if direction == .decompress && input.isStandardInput && input.isTerminal {
                throw FileError(path: "stdin", message: "is a terminal; refusing to read compressed data")
            }
            let destination = try destination(for: input)
            let sink: any ByteSink
            switch destination {
            case .standardOutput:
                if direction == .compress && !options.force && Posix.isTerminal(Posix.standardOutput) {
                    throw FileError(
                        path: "stdout", message: "is a terminal; refusing to write compressed data (use -f to force)")
                }
                sink = StandardOutput()
            case .file(let target):
                let file: any OutputFile
                if try checkTarget(target, input: input) {
                    file = try SpecialFile(path: target)
                } else {
                    let permissions =
                        input.isStandardInput ? 0o666 & ~Posix.creationMask() : input.status.permissions
                    file = try AtomicFile(path: target, permissions: permissions)
                }
                pendingFile = file
                sink = file
            }
            let transform = try makeTransform()
            progress = options.reporting.progressMeter(for: input)
            let clock = ContinuousClock()
            let started = clock.now
            if pipelined {
                try PipelinedPump.run(input, through: transform, to: sink, progress: progress)
            } else {
                try StreamPump.run(input, through: transform, to: sink, progress: progress)
            }
            progress?.clear()
            try pendingFile?.commit()
            let wroteRegularFile = pendingFile is AtomicFile
            pendingFile = nil
            if options.removeSource, wroteRegularFile, !input.isStandardInput {
                try Posix.removeFile(path)
            }
            if options.reporting.verbose {
                let summary = TextFormat.summary(
                    transform.statistics, encoding: direction == .compress, elapsed: clock.now - started)
                Diagnostics.writeStandardError("\(input.displayName) -> \(destination.displayName): \(summary)\n")
            }
            return true
        } catch {
            progress?.clear()
            pendingFile?.discard()
            Diagnostics.report(error, path: path == "-" ? "stdin" : path)
            return false
        }
    }

    private func destination(for input: InputFile) throws(FileError) -> Destination {
        if options.toStandardOutput { return .standardOutput }
        if let output = options.output { return output == "-" ? .standardOutput : .file(output) }
        if input.isStandardInput { return .standardOutput }
        let path = input.displayName
        switch direction {
        case .compress:
            guard !path.hasSuffix(Self.suffix) else {
                throw FileError(path: path, message: "already has the \(Self.suffix) suffix; skipped (use -o or -c)")
            }
            return .file(path + Self.suffix)
        case .decompress:
            guard path.hasSuffix(Self.suffix), !path.hasSuffix("/" + Self.suffix), path != Self.suffix else {
                throw FileError(path: path, message: "unknown suffix, expected \(Self.suffix) (use -o or -c)")
            }
            return .file(String(path.dropLast(Self.suffix.count)))
        }
    }

    /// Refuses to overwrite the input (even with `-f`), a directory, or an existing file without `-f`.
    ///
    /// - Returns: whether the target is a special file (`/dev/null`, a FIFO), which is written in place.
    private func checkTarget(_ target: String, input: InputFile) throws(FileError) -> Bool {
        guard let existing = try Posix.status(ofPath: target) else { return false }
        if existing.isSameFile(as: input.status) {
            throw FileError(path: target, message: "is the input file; refusing to overwrite it")
        }
        if existing.isDirectory { throw FileError(path: target, message: "is a directory") }
        if !existing.isRegularFile { return true }
        if !options.force { throw FileError(path: target, message: "already exists (use -f to overwrite)") }
        return false
    }
}
