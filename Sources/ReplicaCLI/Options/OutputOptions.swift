import ArgumentParser
import ReplicaCore

/// Where compress and decompress write: `-c`, `-o`, `-f`, `--rm`, and the reporting flags.
struct OutputOptions: ParsableArguments {
    @Flag(name: [.customShort("c"), .customLong("stdout")], help: "Write to standard output; keep the source.")
    var toStandardOutput = false

    @Option(
        name: [.customShort("o"), .customLong("output")],
        help: ArgumentHelp("Write to this file (one input only).", valueName: "file"))
    var output: String?

    @Flag(name: .shortAndLong, help: "Overwrite existing files; write compressed data to a terminal.")
    var force = false

    @Flag(name: .customLong("rm"), help: "Remove each source file after success (not with -c).")
    var removeSource = false

    @Flag(name: .shortAndLong, help: "Keep the source files (the default).")
    var keep = false

    @OptionGroup
    var reporting: ReportingOptions

    /// Checks the combinations that `validate()` of the command can only see with its file list.
    func validate(fileCount: Int) throws {
        if toStandardOutput && output != nil { throw ValidationError("-c and -o cannot be combined.") }
        if keep && removeSource { throw ValidationError("-k and --rm cannot be combined.") }
        if output != nil && fileCount > 1 { throw ValidationError("-o takes one input; got \(fileCount).") }
    }
}

/// `--memory`, the decoder's limit, shared by decompress, test and info.
struct DecoderLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Decoder memory limit; a stream needing more is refused.", valueName: "size"))
    var memory = ByteCount(1 << 30)

    @OptionGroup var key: FingerprintKeyOptions

    /// The decoder's options: the memory limit and the fingerprinter of the stream's key.
    func decoderOptions() throws -> DecoderOptions {
        try DecoderOptions(
            memoryLimit: memory.value, acceptsConcatenatedStreams: true, fingerprinter: try key.fingerprinter())
    }
}
