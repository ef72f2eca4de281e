import ArgumentParser
import ReplicaCore

/// `replica decompress` (aliases `d` and `-d`): FILE.rpl to FILE, or stdin to stdout.
struct DecompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decompress",
        abstract: "Decompress each FILE.rpl to FILE, or stdin to stdout.",
        discussion: "Example: replica -d big.log.rpl   (writes big.log)",
        aliases: ["d"])

    @OptionGroup
    var limits: DecoderLimitOptions

    @OptionGroup
    var threads: ThreadOptions

    @OptionGroup
    var output: OutputOptions

    @Option(help: ArgumentHelp("Resolve references from this store, and add the new chunks to it.", valueName: "dir"))
    var store: String?

    @Argument(help: "Files to decompress; none or - reads stdin.")
    var files: [String] = []

    func validate() throws { try output.validate(fileCount: files.count) }

    func run() throws {
        let options = try DecoderOptions(memoryLimit: limits.memory.value, acceptsConcatenatedStreams: true)
        let chunkStore = try store.map { try DiskChunkStore(directory: $0) }
        var transcoder = Transcoder(direction: .decompress, options: output) {
            DecodingTransform(try StreamDecoder(options: options, store: chunkStore))
        }
        transcoder.pipelined = threads.pipelined
        let succeeded = transcoder.run(files)
        try chunkStore?.close()
        guard succeeded else { throw ExitCode.failure }
    }
}
