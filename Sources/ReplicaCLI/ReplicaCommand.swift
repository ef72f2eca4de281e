import ArgumentParser
import ReplicaCore

/// The `replica` command: compress by default, with subcommands for the rest.
///
/// `main()` is ArgumentParser's, with three changes: zstd's `-d` and `-19` spellings are rewritten first,
/// usage errors exit with 2 (not 64) and say `replica:` instead of `Error:`, and signals are watched so that
/// an interrupted run leaves no partial output.
@main
struct ReplicaCommand: ParsableCommand {
    /// The CLI's version.
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Deduplicating compression for files and streams.",
        discussion: """
            Without a command, replica compresses; -d decompresses. Exit status: 0 success, 1 failure, 2 usage.
            Example: tar c dir | replica > dir.tar.rpl
            """,
        version: "replica \(version) (\(Replica.libraryVersions))",
        subcommands: [
            CompressCommand.self, DecompressCommand.self, TestCommand.self, InfoCommand.self, ChunkCommand.self,
            DemoCommand.self, TunnelCommand.self,
            StoreCommand.self, ConfigCommand.self,
        ],
        defaultSubcommand: CompressCommand.self)

    static func main() {
        SignalWatcher.start()
        var arguments = ArgumentRewriter.rewrite(Array(CommandLine.arguments.dropFirst()))
        var config: ConfigFile?
        do {
            if let expanded = try ConfigExpansion.expand(arguments) { (arguments, config) = expanded }
        } catch {
            Diagnostics.writeStandardError("replica: \(error)\n")
            Posix.exitProcess(2)
        }
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            if let config, exitCode(for: error) != .success {
                Diagnostics.writeStandardError("replica: \(ConfigExpansion.attribute(fullMessage(for: error), to: config))\n")
                Posix.exitProcess(2)
            }
            exit(with: error)
        }
        do {
            try command.run()
        } catch {
            exit(with: error)
        }
    }

    /// Prints what `error` calls for and exits: help and version to stdout with 0, usage errors with 2.
    private static func exit(with error: any Error) -> Never {
        let code = exitCode(for: error)
        let message = fullMessage(for: error)
        if code == .success {
            let output = TextOutput()
            try? output.line(message)
            try? output.flush()
            Posix.exitProcess(0)
        }
        if !message.isEmpty {
            let text = message.hasPrefix("Error: ") ? "replica: " + message.dropFirst(7) : message
            Diagnostics.writeStandardError(text + "\n")
        }
        Posix.exitProcess(code == .validationFailure ? 2 : code.rawValue)
    }
}
