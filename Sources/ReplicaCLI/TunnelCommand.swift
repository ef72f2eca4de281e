import ArgumentParser
import Dispatch
import Logging
import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTunnel
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `replica tunnel`: the accelerator pair. Parsing only; the engine is `ReplicaTunnel`.
struct TunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel",
        abstract: "Carry TCP flows over one deduplicated, compressed link between two accelerators.",
        discussion: """
            Run `replica tunnel server` at the far end and `replica tunnel client` at the near end. \
            Applications connect to the client's forwarded ports; the server opens the real connections, only \
            to targets its allow-list permits. Links use mutual TLS 1.3: make the certificates with \
            `replica tunnel keygen`. SIGTERM or SIGINT stops accepting, lets open flows drain and exits 0; a \
            second signal exits at once.
            """,
        subcommands: [
            TunnelServerCommand.self, TunnelClientCommand.self, TunnelStatusCommand.self, TunnelKeygenCommand.self,
        ])
}

/// `--offload`: when links hand their encoders and decoders to the thread pool.
enum OffloadChoice: String, ExpressibleByArgument, CaseIterable {
    /// Only with a store that may block (``TunnelEngineExecution/automatic``).
    case auto
    /// Always (``TunnelEngineExecution/threadPool``).
    case always

    /// The tunnel's setting for this choice.
    var execution: TunnelEngineExecution { self == .auto ? .automatic : .threadPool }
}

/// The options both ends share: the store, the engine and the timers.
struct TunnelEngineOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Keep chunks in this directory (created when missing).", valueName: "dir"))
    var store: String?

    @Option(
        help: ArgumentHelp(
            "The store's capacity (8G, 500M): set when creating the store, changed on an existing one (its next "
                + "writes evict down to it); without it an existing store keeps its own.", valueName: "size"))
    var storeCapacity: ByteCount?

    @Option(help: ArgumentHelp("Without --store, keep this many MiB of chunks in memory.", valueName: "mib"))
    var memoryStore = 256

    @Option(help: ArgumentHelp("The codec for new data: zstd, lz4 or none.", valueName: "codec"))
    var codec = "zstd"

    @Option(help: ArgumentHelp("The codec level (zstd default 1, lz4 default 1).", valueName: "n"))
    var level: Int?

    @Option(help: ArgumentHelp("Receive credit per flow, in KiB.", valueName: "kib"))
    var streamWindow = 1024

    @Option(help: ArgumentHelp("Data in flight over the link per direction, in MiB.", valueName: "mib"))
    var linkBudget = 64

    @Option(help: ArgumentHelp("Seconds between keepalive pings.", valueName: "s"))
    var keepalive = 5.0

    @Option(help: ArgumentHelp("Seconds of silence after which the peer is declared dead.", valueName: "s"))
    var peerTimeout = 15.0

    @Option(
        help: ArgumentHelp(
            "Client: hold new connections this many seconds while the link is down (0: refuse at once).",
            valueName: "s"))
    var linkWait = 0.0

    @Option(help: ArgumentHelp("Seconds a stop (SIGTERM) lets open flows drain before resetting them.", valueName: "s"))
    var drainTimeout = 5.0

    @Option(help: ArgumentHelp("Print per-peer counters every this many seconds (0: never).", valueName: "s"))
    var statsInterval = 0.0

    @Option(
        help: ArgumentHelp(
            "Where links encode and decode: auto (on their event loops with the memory store; on the thread pool "
                + "with --store, so no event loop waits on its disk) or always (on the thread pool: one link's "
                + "encoder beside its event loop, for a machine with cores to spare).",
            valueName: "when"))
    var offload = OffloadChoice.auto

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    @OptionGroup var key: FingerprintKeyOptions

    func validate() throws {
        guard CodecKind(name: codec) != nil else { throw ValidationError("--codec must be zstd, lz4 or none") }
        guard memoryStore >= 1 else { throw ValidationError("--memory-store must be at least 1 MiB") }
        guard keepalive > 0, peerTimeout > keepalive else {
            throw ValidationError("--keepalive must be positive and below --peer-timeout")
        }
        guard linkWait >= 0 else { throw ValidationError("--link-wait must not be negative") }
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must not be negative") }
        guard statsInterval >= 0 else { throw ValidationError("--stats-interval must not be negative") }
    }

    /// What the options ask for, before a memory cap cuts it.
    var requestedBudgets: MemoryCap.Budgets {
        var budgets = MemoryCap.uncapped
        budgets.linkBudget = linkBudget << 20
        budgets.streamWindow = streamWindow << 10
        budgets.memoryStoreCapacity = memoryStore << 20
        return budgets
    }

    /// The memory budgets: the requested ones cut to fit `memoryCap` (``MemoryCap/budgets(cap:requested:)``).
    func budgets(memoryCap: Int?) -> MemoryCap.Budgets {
        memoryCap.map { MemoryCap.budgets(cap: $0, requested: requestedBudgets) } ?? requestedBudgets
    }

    /// The engine settings, with windows, budgets, stream count and queues cut to fit `memoryCap`.
    func configuration(memoryCap: Int? = nil) throws -> TunnelConfiguration {
        let budgets = budgets(memoryCap: memoryCap)
        let kind = CodecKind(name: codec) ?? .zstd
        // zstd's long window stays within the reference window: the largest power of two not above it.
        let windowLog = min(TunnelConfiguration.defaultLongWindowLog, Int.bitWidth - 1 - budgets.windowSize.leadingZeroBitCount)
        let encoder = try EncoderConfiguration(
            codec: CodecConfiguration(kind, level: kind == .zstd ? (level ?? 1) : level, longWindowLog: windowLog),
            windowSize: budgets.windowSize,
            blockSize: 64 << 10,
            fingerprinter: key.fingerprinter())
        return try TunnelConfiguration(
            encoder: encoder, streamWindow: budgets.streamWindow,
            maximumStreamWindow: max(budgets.streamWindow, min(16 << 20, budgets.linkBudget / 4)),
            linkBudget: budgets.linkBudget, maximumStreams: budgets.maximumStreams,
            keepaliveInterval: .nanoseconds(Int64(keepalive * 1e9)),
            keepaliveTimeout: .nanoseconds(Int64(peerTimeout * 1e9)), linkWait: .nanoseconds(Int64(linkWait * 1e9)),
            drainTimeout: .nanoseconds(Int64(drainTimeout * 1e9)),
            limits: TunnelLimits(
                maximumQueuedControlBytes: budgets.controlQueueBytes, maximumMissQueueBytes: budgets.missQueueBytes,
                decoderMemoryLimit: budgets.decoderMemoryLimit, knownChunksPerPeer: budgets.knownChunksPerPeer),
            engineExecution: offload.execution)
    }

    /// Opens the store: the memory store within the cap's index share; a disk store created without
    /// `--store-capacity` gets a capacity whose index fits that share. An existing store keeps its capacity
    /// unless `--store-capacity` names another (which the store records; its next writes evict down to it), and a
    /// warning says when its index may outgrow the share.
    func openStore(memoryCap: Int? = nil, logger: TunnelLogger = { _ in }) throws -> any ChunkStore {
        let budgets = budgets(memoryCap: memoryCap)
        guard let store else { return MemoryChunkStore(capacity: budgets.memoryStoreCapacity) }
        let creating = !DiskChunkStore.exists(at: store)
        let capacity = storeCapacity?.value ?? (creating && memoryCap != nil ? budgets.diskStoreCapacity : nil)
        let disk = try DiskChunkStore(directory: store, options: DiskChunkStore.Options(capacity: capacity))
        disk.syncObserver = { TunnelMetrics.shared.storeSynced($0) }
        let held = disk.statistics.capacity
        if let memoryCap, held > budgets.diskStoreCapacity {
            let index = held / MemoryCap.averageChunkSize * MemoryCap.indexBytesPerChunk
            logger(
                "warning: the store's capacity \(held >> 20) MiB may need \(index >> 20) MiB of index RAM, above a "
                    + "quarter of the memory cap (\(memoryCap >> 20) MiB); a store of at most "
                    + "\(budgets.diskStoreCapacity >> 20) MiB fits")
        }
        return disk
    }

}

/// How a tunnel end authenticates: its certificate and key, whom it trusts, or explicit plaintext.
struct TunnelSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Trust peers whose certificate chains to this CA (PEM).", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("This end's certificate (PEM).", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("This end's private key (PEM).", valueName: "file"))
    var key: String?

    @Option(help: ArgumentHelp("Also trust this exact peer certificate (PEM, repeatable).", valueName: "file"))
    var pin: [String] = []

    @Option(help: ArgumentHelp("Seconds a connection has to finish the TLS handshake.", valueName: "s"))
    var handshakeTimeout = 10.0

    @Flag(help: "Carry the link without TLS: no authentication, no encryption (trusted networks only).")
    var insecurePlaintext = false

    func validate() throws {
        guard handshakeTimeout > 0 else { throw ValidationError("--handshake-timeout must be positive") }
        if insecurePlaintext {
            guard ca == nil, cert == nil, key == nil, pin.isEmpty else {
                throw ValidationError("--insecure-plaintext cannot be combined with --ca, --cert, --key or --pin")
            }
            return
        }
        guard cert != nil, key != nil, ca != nil || !pin.isEmpty else {
            throw ValidationError(
                "give --cert, --key and --ca (or --pin) for mutual TLS (see `replica tunnel keygen`), "
                    + "or --insecure-plaintext")
        }
    }

    /// The security settings; in plaintext mode it logs the warning.
    func security(expectedPeerName: String? = nil, logger: TunnelLogger) throws -> TunnelSecurity {
        let timeout = TimeAmount.nanoseconds(Int64(handshakeTimeout * 1e9))
        guard !insecurePlaintext, let cert, let key else {
            logger(
                "WARNING: --insecure-plaintext: the link is neither authenticated nor encrypted; anyone who reaches "
                    + "the port is a full peer")
            return .insecurePlaintext(handshakeTimeout: timeout)
        }
        return try .mutualTLS(
            certificateFile: cert, keyFile: key, caFile: ca, pinnedCertificateFiles: pin,
            expectedPeerName: expectedPeerName, handshakeTimeout: timeout)
    }
}

/// `replica tunnel keygen`: a deployment's CA and endpoint certificates.
struct TunnelKeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CA and a certificate and key for each tunnel endpoint.",
        discussion: """
            Writes DIR/ca.pem and DIR/ca.key (the CA; keep ca.key offline), and DIR/NAME.pem and DIR/NAME.key \
            for each NAME. Keys are P-256 ECDSA, mode 0600, written atomically. An existing CA in DIR is reused, \
            so names can be added later; existing NAME files are replaced only with --force.
            """)

    @Argument(help: ArgumentHelp("The directory to write to (created when missing).", valueName: "dir"))
    var directory: String

    @Argument(help: ArgumentHelp("The endpoints' certificate names.", valueName: "name"))
    var names: [String]

    @Flag(help: "Replace existing NAME.pem and NAME.key files.")
    var force = false

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("give at least one name") }
        for name in names where !TunnelKeygen.isValidName(name) {
            throw ValidationError("'\(name)' is not a valid name (1-64 of A-Z a-z 0-9 . _ -, not 'ca')")
        }
    }

    func run() throws {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw TunnelError(.invalidArgument, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        let result = try TunnelKeygen.generate(directory: directory, names: names, force: force)
        print(
            result.reusedCA
                ? "using the CA in \(result.caCertificate)"
                : "wrote \(result.caCertificate) and \(directory)/ca.key (the CA: give ca.pem to every endpoint, keep ca.key offline)")
        for entry in result.issued { print("wrote \(entry.certificate) and \(entry.key) for \(entry.name)") }
    }
}

/// `replica tunnel server`: the far end.
struct TunnelServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Accept links from tunnel clients and connect their flows to permitted targets.")

    /// The reloadable engine settings in a few words, for the reload's log line.
    static func describe(_ configuration: TunnelConfiguration) -> String {
        "link budget \(configuration.linkBudget >> 10) KiB, stream window \(configuration.streamWindow >> 10) KiB, "
            + "\(configuration.maximumStreams) streams, keepalive \(configuration.keepaliveInterval.nanoseconds / 1_000_000) ms, "
            + "peer timeout \(configuration.keepaliveTimeout.nanoseconds / 1_000_000) ms"
    }

    /// `HOST:PORT` of a socket address, for log lines.
    static func format(_ address: SocketAddress) -> String {
        let host = address.ipAddress ?? "?"
        return (host.contains(":") ? "[\(host)]" : host) + ":\(address.port ?? 0)"
    }

    @Option(help: ArgumentHelp("The address to listen on.", valueName: "host:port"))
    var listen: String

    @Option(
        help: ArgumentHelp(
            "Targets flows may reach, comma-separated: HOST:PORT, HOST:*, CIDR:PORT, *. Default: none.",
            valueName: "host:port,..."))
    var allow = ""

    @Option(
        help: ArgumentHelp(
            "Let the peer with this certificate name (* for every peer) reach these targets, within --allow "
                + "(repeatable). Default: none.",
            valueName: "name=host:port,..."))
    var permit: [String] = []

    @Option(help: ArgumentHelp("The most peer connections at once.", valueName: "n"))
    var maxLinks = 1024

    @Option(help: ArgumentHelp("The most peer connections at once from one address.", valueName: "n"))
    var maxLinksPerAddress = 32

    @OptionGroup var security: TunnelSecurityOptions

    @OptionGroup var engine: TunnelEngineOptions
    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        do { _ = try TunnelTarget(parsing: listen) } catch { throw ValidationError("--listen: \(error.message)") }
        do { _ = try TunnelAllowList(parsing: allow) } catch { throw ValidationError("--allow: \(error.message)") }
        do { _ = try TunnelPermissions(parsing: permit) } catch { throw ValidationError("--permit: \(error.message)") }
        do {
            _ = try TunnelAdmissionLimits(maximumLinks: maxLinks, maximumLinksPerAddress: maxLinksPerAddress)
        } catch { throw ValidationError(error.message) }
    }

    func run() throws {
        let listen = try TunnelTarget(parsing: self.listen)
        let allowList = try TunnelAllowList(parsing: allow)
        let permissions = try TunnelPermissions(parsing: permit)
        let limits = try TunnelAdmissionLimits(maximumLinks: maxLinks, maximumLinksPerAddress: maxLinksPerAddress)
        let runtime = Daemon(options: daemon, quiet: engine.quiet, label: "replica.tunnel.server")
        var resolved = try engine.configuration(memoryCap: daemon.memoryCap)
        resolved.resolver = daemon.resolverAddress
        let configuration = resolved
        let logger = runtime.tunnelLogger
        let store = try engine.openStore(memoryCap: daemon.memoryCap, logger: logger)
        let security = try self.security.security(logger: logger)
        if allowList.isEmpty { logger("the allow-list is empty: every flow will be refused (see --allow)") }
        if permissions.grants.isEmpty { logger("no peer has permissions: every flow will be refused (see --permit)") }
        try TunnelRunner.run(role: .server, store: store, engine: engine, daemon: daemon, runtime: runtime) { group in
            let server = try await TunnelServer.start(
                listen: listen, allowList: allowList, permissions: permissions, configuration: configuration, security: security,
                admission: limits, store: store,
                group: group, logger: runtime.logger)
            logger("listening on \(server.localAddress.map(Self.format) ?? listen.description)")
            return TunnelEndpoint(
                statistics: { server.statistics() }, problems: { [] },
                reload: { command in
                    guard let new = command as? TunnelServerCommand else { return "not a server config: ignored" }
                    // Everything is checked before anything is applied, so a bad value changes nothing.
                    let allowList = try TunnelAllowList(parsing: new.allow)
                    let permissions = try TunnelPermissions(parsing: new.permit)
                    let limits = try TunnelAdmissionLimits(
                        maximumLinks: new.maxLinks, maximumLinksPerAddress: new.maxLinksPerAddress)
                    var configuration = try new.engine.configuration(memoryCap: new.daemon.memoryCap)
                    configuration.resolver = server.configuration.resolver  // the resolver needs a restart
                    try server.updatePolicy(TunnelAccessPolicy(allowList: allowList, permissions: permissions))
                    server.updateAdmissionLimits(limits)
                    server.updateConfiguration(configuration)
                    return "allow-list \(allowList.entries.count) entries, permissions for \(permissions.grants.count) "
                        + "names, \(Self.describe(configuration)) (for links that come up from now on); at most "
                        + "\(limits.maximumLinks) links, \(limits.maximumLinksPerAddress) per address (from the next "
                        + "connection)"
                },
                shutdown: { await server.shutdown() })
        }
    }
}

/// `replica tunnel client`: the near end, with ssh `-L` semantics.
struct TunnelClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Forward local ports through a tunnel server, like ssh -L.")

    @Option(help: ArgumentHelp("The tunnel server.", valueName: "host:port"))
    var peer: String

    @Option(
        name: [.customShort("L"), .long],
        help: ArgumentHelp(
            "Listen on LOCALPORT and carry each connection to TARGETHOST:TARGETPORT (repeatable).",
            valueName: "[bind:]localport:host:port"))
    var forward: [String] = []

    @Option(
        help: ArgumentHelp(
            "The name the server's certificate must carry (default: any certificate the CA or a pin trusts).",
            valueName: "name"))
    var serverName: String?

    @OptionGroup var security: TunnelSecurityOptions

    @OptionGroup var engine: TunnelEngineOptions
    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        guard !forward.isEmpty else { throw ValidationError("give at least one --forward") }
        do { _ = try TunnelTarget(parsing: peer) } catch { throw ValidationError("--peer: \(error.message)") }
        do {
            for text in forward { _ = try TunnelForward(parsing: text) }
        } catch { throw ValidationError("--forward: \(error.message)") }
    }

    func run() throws {
        let peer = try TunnelTarget(parsing: self.peer)
        let forwards = try forward.map { try TunnelForward(parsing: $0) }
        let runtime = Daemon(options: daemon, quiet: engine.quiet, label: "replica.tunnel.client")
        let configuration = try engine.configuration(memoryCap: daemon.memoryCap)
        let logger = runtime.tunnelLogger
        let store = try engine.openStore(memoryCap: daemon.memoryCap, logger: logger)
        let security = try self.security.security(expectedPeerName: serverName, logger: logger)
        if !security.isPlaintext, serverName == nil {
            logger("note: any certificate the CA trusts is accepted as the server (see --server-name)")
        }
        try TunnelRunner.run(role: .client, store: store, engine: engine, daemon: daemon, runtime: runtime) { group in
            let client = try await TunnelClient.start(
                peer: peer, forwards: forwards, configuration: configuration, security: security, store: store,
                group: group, logger: runtime.logger)
            for (forward, address) in zip(forwards, client.listenAddresses) {
                let local = address.map(TunnelServerCommand.format) ?? "\(forward.bindHost):\(forward.localPort)"
                logger("forwarding \(local) -> \(forward.target) via \(peer)")
            }
            return TunnelEndpoint(
                statistics: { client.statistics().map { [$0] } ?? [] },
                problems: { client.isLinkUp ? [] : ["the link to \(peer) is down"] },
                reload: { command in
                    guard let new = command as? TunnelClientCommand else { return "not a client config: ignored" }
                    let forwards = try new.forward.map { try TunnelForward(parsing: $0) }
                    let configuration = try new.engine.configuration(memoryCap: new.daemon.memoryCap)
                    let (added, removed) = try await client.updateForwards(forwards)
                    await client.updateConfiguration(configuration)
                    return "forwards: \(added.count) added, \(removed.count) removed"
                        + added.map { " +(\($0))" }.joined() + removed.map { " -(\($0))" }.joined()
                        + "; \(TunnelServerCommand.describe(configuration)) (from the next link)"
                },
                shutdown: { await client.shutdown() })
        }
    }
}

/// What the runner needs from a started server or client.
struct TunnelEndpoint: Sendable {
    let statistics: @Sendable () -> [TunnelStatistics]
    /// Why the endpoint is not ready (the store is open once it exists); empty when it is. The admin listener
    /// asks on its event loop: it reads state, never waits.
    let problems: @Sendable () -> [String]
    /// Applies what a reloaded config changes, returning a summary for the log.
    let reload: @Sendable (any ParsableCommand) async throws -> String
    let shutdown: @Sendable () async -> Void
}
