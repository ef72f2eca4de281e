import ArgumentParser
import ReplicaCore

/// `replica compress` (alias `c`, and the default command): FILE to FILE.rpl, or stdin to stdout.
struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Compress each FILE to FILE.rpl, or stdin to stdout.",
        discussion: "Example: replica -19 --chunk-size 16K big.log   (writes big.log.rpl)",
        aliases: ["c"])

    @OptionGroup
    var tuning: TuningOptions

    @OptionGroup
    var threads: ThreadOptions

    @OptionGroup
    var output: OutputOptions

    @Option(help: ArgumentHelp("Send chunks this store holds by reference, and add the rest to it.", valueName: "dir"))
    var store: String?

    @Argument(help: "Files to compress; none or - reads stdin.")
    var files: [String] = []

    func validate() throws { try output.validate(fileCount: files.count) }

    func run() throws {
        let configuration = try tuning.keyedConfiguration()
        let chunkStore = try store.map { try DiskChunkStore(directory: $0) }
        var transcoder = Transcoder(direction: .compress, options: output) {
            EncodingTransform(try StreamEncoder(configuration: configuration, store: chunkStore))
        }
        transcoder.pipelined = threads.pipelined
        let succeeded = transcoder.run(files)
        try chunkStore?.close()
        guard succeeded else { throw ExitCode.failure }
    }
}
