import ArgumentParser
import Logging
import ReplicaTunnel

/// The operator's options of a running accelerator: config file, admin listener, logging and memory.
struct DaemonOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Read options from this YAML file (keys are option names); options on the command line win.",
            valueName: "file"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Serve /metrics, /healthz and /readyz on this address (\"off\" disables it; default "
                + "\(DaemonRole.server.defaultAdmin) for a server, \(DaemonRole.client.defaultAdmin) for a client).",
            valueName: "host:port"))
    var admin: String?

    @Option(help: ArgumentHelp("Log lines as logfmt or json.", valueName: "format"))
    var logFormat = LogFormat.logfmt

    @Option(
        help: ArgumentHelp(
            "The least severe level logged: trace, debug, info, notice, warning, error.", valueName: "level"))
    var logLevel = "info"

    @Option(
        help: ArgumentHelp(
            "The memory cap: a size (512M), or auto to read the cgroup limit (memory.max or memory.limit_in_bytes).",
            valueName: "size|auto"))
    var memoryLimit = "auto"

    @Option(
        help: ArgumentHelp(
            "Server: resolve target names with this DNS server (dnsmasq); /metrics exports its cache counters.",
            valueName: "host:port"))
    var resolver: String?

    func validate() throws {
        if let admin, admin != "off" {
            do { _ = try TunnelTarget(parsing: admin) } catch { throw ValidationError("--admin: \(error.message)") }
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard memoryLimit == "auto" || ByteCount(argument: memoryLimit) != nil else {
            throw ValidationError("--memory-limit must be a size such as 512M, or auto")
        }
        if let resolver {
            do { _ = try TunnelTarget(parsing: resolver) } catch {
                throw ValidationError("--resolver: \(error.message)")
            }
        }
    }

    /// The admin address of an endpoint in `role`, or nil when switched off.
    func adminAddress(_ role: DaemonRole) -> TunnelTarget? {
        let admin = self.admin ?? role.defaultAdmin
        return admin == "off" ? nil : try? TunnelTarget(parsing: admin)
    }

    /// The resolver address, when one is set.
    var resolverAddress: TunnelTarget? { resolver.flatMap { try? TunnelTarget(parsing: $0) } }

    /// The level to log at.
    var level: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

    /// The memory cap in bytes: the explicit size, else the cgroup's, else nil (no cap known).
    var memoryCap: Int? {
        if let explicit = ByteCount(argument: memoryLimit) { return explicit.value }
        return MemoryCap.fromControlGroup()
    }
}

/// Which end of a tunnel a process runs: each has its own default admin port, so a server and a client can run
/// side by side on one host with their defaults.
enum DaemonRole: Sendable {
    case server
    case client

    /// The admin listener's default address.
    var defaultAdmin: String {
        switch self {
        case .server: "127.0.0.1:9090"
        case .client: "127.0.0.1:9091"
        }
    }
}
