import ArgumentParser
import Dispatch
import NIOCore
import NIOPosix
import ReplicaTunnel
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `replica tunnel status ADDR`: a live table of an accelerator's `/metrics`, or a health probe.
struct TunnelStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a running accelerator's counters from its admin listener.",
        discussion: """
            Refreshes every --interval seconds until interrupted, with rates since the previous refresh. \
            --once prints one table; --check probes /healthz (and --ready /readyz) and exits 0 or 1, for \
            container health checks.
            """)

    @Argument(help: ArgumentHelp("The admin listener (--admin of the accelerator).", valueName: "host:port"))
    var address: String

    @Option(help: ArgumentHelp("Seconds between refreshes.", valueName: "s"))
    var interval = 2.0

    @Flag(help: "Print one table and exit.")
    var once = false

    @Flag(help: "Exit 0 when /healthz answers 200, else 1; print nothing on success.")
    var check = false

    @Flag(help: "With --check, probe /readyz instead (the store is open, the peer link is up).")
    var ready = false

    func validate() throws {
        do { _ = try TunnelTarget(parsing: address) } catch { throw ValidationError(error.message) }
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
    }

    func run() throws {
        let target = try TunnelTarget(parsing: address)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        if check {
            let path = ready ? "/readyz" : "/healthz"
            let response = try Self.blocking { try await AdminClient.get(path, from: target, group: group) }
            guard response.status == 200 else {
                Diagnostics.writeStandardError("replica: \(path) answered \(response.status): \(response.body)")
                throw ExitCode.failure
            }
            return
        }
        var previous: (samples: [MetricsSample], time: UInt64)?
        while true {
            let response = try Self.blocking { try await AdminClient.get("/metrics", from: target, group: group) }
            guard response.status == 200 else {
                throw TunnelError(.protocolViolation, "/metrics answered \(response.status)")
            }
            let now = DispatchTime.now().uptimeNanoseconds
            let samples = MetricsSample.parse(response.body)
            let elapsed = previous.map { Double(now - $0.time) / 1e9 }
            let table = StatusTable.render(samples, previous: previous?.samples, seconds: elapsed)
            let output = TextOutput()
            try output.line((once ? "" : "\u{1B}[H\u{1B}[2J") + "replica at \(target)\n" + table)
            try output.flush()
            if once { return }
            previous = (samples, now)
            usleep(UInt32(min(interval, 3600) * 1e6))
        }
    }

    /// Runs async work from this synchronous command.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let value = try await body()
                result.withLock { $0 = .success(value) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0 }!.get()
    }
}

/// The metrics the table shows, in order: label, metric name, labels, and whether a rate makes sense.
enum StatusTable {
    static let rows: [(String, String, [String: String], Bool)] = [
        ("links up", "replica_links", [:], false),
        ("flows open", "replica_flows_open", [:], false),
        ("flows opened", "replica_flows_opened_total", [:], true),
        ("app bytes sent", "replica_app_bytes_total", ["direction": "sent"], true),
        ("app bytes received", "replica_app_bytes_total", ["direction": "received"], true),
        ("link bytes sent", "replica_link_bytes_total", ["direction": "sent"], true),
        ("link bytes received", "replica_link_bytes_total", ["direction": "received"], true),
        ("reduction ratio", "replica_reduction_ratio", [:], false),
        ("references", "replica_references_total", [:], true),
        ("literals", "replica_literals_total", [:], true),
        ("chunk requests", "replica_chunk_requests_total", [:], true),
        ("chunk misses", "replica_chunk_misses_total", [:], true),
        ("store bytes", "replica_store_bytes", [:], false),
        ("store chunks", "replica_store_chunks", [:], false),
        ("dns cache hits", "replica_dns_cache_hits", [:], false),
        ("dns cache misses", "replica_dns_cache_misses", [:], false),
    ]

    static func render(_ samples: [MetricsSample], previous: [MetricsSample]?, seconds: Double?) -> String {
        var lines = ["metric                      value          per second"]
        for (label, name, labels, rated) in rows {
            let value = samples.total(name, labels)
            var rate = ""
            if rated, let previous, let seconds, seconds > 0 {
                rate = format((value - previous.total(name, labels)) / seconds)
            }
            lines.append(pad(label, 28) + pad(format(value), 15) + rate)
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : TextFormat.fixed(value, digits: 2)
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
