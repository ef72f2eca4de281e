import ArgumentParser
import Logging

/// Turns `replica tunnel [server|client] --config FILE ...` into the arguments the file stands for.
enum ConfigExpansion {
    /// The rewritten arguments and the file they came from, or nil when `arguments` name no config file.
    ///
    /// - Throws: ``ConfigError`` for a bad file, a missing role, or a role that contradicts the command line.
    static func expand(_ arguments: [String]) throws(ConfigError) -> (arguments: [String], file: ConfigFile)? {
        guard arguments.first == "tunnel" else { return nil }
        var rest = Array(arguments.dropFirst())
        var path: String?
        for (index, argument) in rest.enumerated() {
            if argument == "--config", index + 1 < rest.count { path = rest[index + 1] }
            if argument.hasPrefix("--config=") { path = String(argument.dropFirst("--config=".count)) }
        }
        guard let path else { return nil }
        let file = try ConfigFile(path: path)
        var role = file.role?.value
        if let first = rest.first, first == "server" || first == "client" {
            if let written = file.role, written.value != first {
                throw ConfigError(
                    file: path, line: written.line, key: "role",
                    reason: "the file says \(written.value), the command line \(first)")
            }
            role = first
            rest.removeFirst()
        }
        guard let role else {
            throw ConfigError(file: path, line: 1, key: "role", reason: "missing: add role: server or role: client")
        }
        return (["tunnel", role] + file.merged(with: rest), file)
    }

    /// The error a parse of expanded arguments threw, traced to the key it is about where it names one.
    static func attribute(_ message: String, to file: ConfigFile) -> ConfigError {
        let text = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
        let firstLine = String(text.split(separator: "\n").first ?? "")
        if let entry = file.entry(mentionedIn: firstLine) {
            return ConfigError(file: file.path, line: entry.line, key: entry.key, reason: firstLine)
        }
        return ConfigError(file: file.path, line: file.role?.line ?? 1, key: "", reason: firstLine)
    }
}

/// `replica config`: work with config files.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check accelerator config files.",
        subcommands: [ConfigCheckCommand.self])
}

/// `replica config check FILE`: validates a config file as `replica tunnel --config FILE` would, starting nothing.
struct ConfigCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file without starting anything.",
        discussion: "Exit status 0 when valid; otherwise each problem is printed as FILE:LINE: KEY: REASON, exit 1.")

    @Argument(help: ArgumentHelp("The YAML config file.", valueName: "file"))
    var file: String

    func run() throws {
        let file = try ConfigFile(path: self.file)
        guard let expanded = try ConfigExpansion.expand(["tunnel", "--config", self.file]) else { return }
        do {
            let command = try ReplicaCommand.parseAsRoot(expanded.arguments)
            guard command is TunnelServerCommand || command is TunnelClientCommand else {
                throw ConfigError(file: self.file, line: 1, key: "", reason: "does not describe a tunnel endpoint")
            }
            try Self.checkSecurity(of: command, in: file)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigExpansion.attribute(ReplicaCommand.fullMessage(for: error), to: file)
        }
        let output = TextOutput()
        try output.line("\(self.file): ok (role \(file.role?.value ?? "?"), \(file.entries.count + 1) settings)")
        try output.flush()
    }

    /// Loads the certificate, key and trust files the endpoint would use, so a missing or bad file is found now.
    ///
    /// - Throws: ``ConfigError`` on the line of the `cert`, `key`, `ca` or `pin` key.
    static func checkSecurity(of command: any ParsableCommand, in file: ConfigFile) throws(ConfigError) {
        guard
            let security = (command as? TunnelServerCommand)?.security ?? (command as? TunnelClientCommand)?.security
        else { return }
        do {
            _ = try security.security(logger: { _ in })
        } catch {
            // The key whose file the error names, else the first TLS key of the file.
            let keys = file.entries.filter { ["cert", "key", "ca", "pin"].contains($0.key) }
            let named = keys.first { entry in entry.arguments.dropFirst().contains { "\(error)".contains($0) } }
            let entry = named ?? keys.first
            throw ConfigError(
                file: file.path, line: entry?.line ?? file.role?.line ?? 1, key: entry?.key ?? "", reason: "\(error)")
        }
    }
}

/// SIGHUP: re-reads the config file, refuses it whole when invalid, else applies the log level and what the
/// endpoint can change live (forwards, allow-list).
enum ConfigReload {
    static func run(endpoint: TunnelEndpoint, runtime: Daemon) async {
        let arguments = ArgumentRewriter.rewrite(Array(CommandLine.arguments.dropFirst()))
        let logger = runtime.logger
        let command: any ParsableCommand
        do {
            guard let expanded = try ConfigExpansion.expand(arguments) else { return }
            do {
                command = try ReplicaCommand.parseAsRoot(expanded.arguments)
            } catch {
                throw ConfigExpansion.attribute(ReplicaCommand.fullMessage(for: error), to: expanded.file)
            }
        } catch {
            logger.error("config reload refused, the last good config stays", metadata: ["error": "\(error)"])
            return
        }
        let daemon = (command as? TunnelServerCommand)?.daemon ?? (command as? TunnelClientCommand)?.daemon
        if let daemon { runtime.level.value = daemon.level }
        do {
            let summary = try await endpoint.reload(command)
            logger.notice(
                "config reloaded", metadata: ["changes": "\(summary)", "log_level": "\(runtime.level.value)"])
        } catch {
            logger.error("config reload failed part way", metadata: ["error": "\(error)"])
        }
    }
}
