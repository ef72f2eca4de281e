import ArgumentParser
import ReplicaCore

/// `replica test`: verifies streams without writing anything, like `zstd -t`.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Verify .rpl files without writing output.",
        discussion: "Example: replica test big.log.rpl   (prints big.log.rpl: OK)")

    @OptionGroup
    var options: StreamReading.Options

    @Argument(help: "Files to verify; none or - reads stdin.")
    var files: [String] = []

    func run() throws {
        let output = TextOutput()
        let succeeded = try StreamReading.forEach(files, options: options) { result in
            let name = result.input.displayName
            if options.reporting.verbose {
                let statistics = result.transform.statistics
                try output.line(
                    "\(name): OK, \(TextFormat.summary(statistics, encoding: false, elapsed: result.elapsed))")
            } else if !options.reporting.quiet {
                try output.line("\(name): OK")
            }
            try output.flush()
        }
        guard succeeded else { throw ExitCode.failure }
    }
}
