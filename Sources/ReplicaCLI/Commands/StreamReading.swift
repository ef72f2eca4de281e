import ArgumentParser
import ReplicaCore

/// Decodes a whole `.rpl` input without writing its content: the work `test` and `info` share.
enum StreamReading {
    /// The options test and info share: the decoder's limit, `-q`/`-v`, and the store of store-backed streams.
    struct Options: ParsableArguments {
        @OptionGroup
        var limits: DecoderLimitOptions

        @OptionGroup
        var reporting: ReportingOptions

        @Option(
            help: ArgumentHelp(
                "The store a store-backed stream references, opened read-only: nothing is added or changed.",
                valueName: "dir"))
        var store: String?
    }

    /// What a full read of one stream found.
    struct Result {
        let input: InputFile
        /// The decoding, for the first stream's header, the number of streams and the summed counters.
        let transform: DecodingTransform
        let elapsed: Duration
    }

    /// Reads every input in turn (`-` or none is stdin) and hands each result to `body`, reporting each
    /// failure as `replica: PATH: message`.
    ///
    /// - Returns: whether every input was read and handled without error.
    /// - Throws: ``ChunkStoreError`` when the store cannot be opened or closed.
    static func forEach(_ paths: [String], options: Options, _ body: (Result) throws -> Void) throws -> Bool {
        let readOnly = try DiskChunkStore.Options(capacity: nil, createIfMissing: false, readOnly: true)
        let store = try options.store.map { try DiskChunkStore(directory: $0, options: readOnly) }
        var succeeded = true
        for path in paths.isEmpty ? ["-"] : paths {
            do {
                try body(read(path, limits: options.limits, reporting: options.reporting, store: store))
            } catch {
                Diagnostics.report(error, path: path == "-" ? "stdin" : path)
                succeeded = false
            }
        }
        try store?.close()
        return succeeded
    }

    /// Opens `path` (or stdin for `-`) and decodes all of it, verifying every checksum.
    ///
    /// - Throws: ``FileError`` for I/O and a terminal on stdin, ``FormatError`` for a bad stream.
    private static func read(
        _ path: String, limits: DecoderLimitOptions, reporting: ReportingOptions, store: (any ChunkWriting)?
    ) throws -> Result {
        let input = try InputFile(path: path)
        if input.isStandardInput && input.isTerminal {
            throw FileError(path: "stdin", message: "is a terminal; refusing to read compressed data")
        }
        let options = try DecoderOptions(memoryLimit: limits.memory.value, acceptsConcatenatedStreams: true)
        let transform = DecodingTransform(try StreamDecoder(options: options, store: store))
        let progress = reporting.progressMeter(for: input)
        defer { progress?.clear() }
        let clock = ContinuousClock()
        let started = clock.now
        try StreamPump.run(input, through: transform, to: nil, progress: progress)
        return Result(input: input, transform: transform, elapsed: clock.now - started)
    }
}
