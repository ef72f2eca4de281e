public import Logging
public import NIOCore
import NIOPosix
public import ReplicaCore
import Synchronization

/// The far end of a tunnel: accepts peer links and connects their streams to the targets its allow-list permits.
///
/// ```swift
/// let server = try await TunnelServer.start(
///     listen: TunnelTarget(host: "0.0.0.0", port: 7000), allowList: TunnelAllowList(parsing: "10.0.0.0/24:80"),
///     permissions: TunnelPermissions(parsing: ["branch1=10.0.0.5:80"]),
///     configuration: TunnelConfiguration(),
///     security: .mutualTLS(certificateFile: "hub.pem", keyFile: "hub.key", caFile: "ca.pem"),
///     store: MemoryChunkStore(capacity: 256 << 20), group: group)
/// ```
public final class TunnelServer: Sendable {
    private let listener: any Channel
    private let registry: SessionRegistry
    private let policy: PolicyHolder
    private let admission: TunnelAdmission
    private let settings: Shared<TunnelConfiguration>

    /// The address the server listens on (with the real port when 0 was asked for).
    public var localAddress: SocketAddress? { listener.localAddress }

    /// The allow-list links that come up from now on get.
    public var currentAllowList: TunnelAllowList { policy.value.withLock { $0.allowList } }

    /// The access policy (allow-list and per-peer permissions) links that come up from now on get.
    public var currentPolicy: TunnelAccessPolicy { policy.value.withLock { $0 } }

    private init(
        listener: any Channel, registry: SessionRegistry, policy: PolicyHolder, admission: TunnelAdmission,
        settings: Shared<TunnelConfiguration>
    ) {
        self.listener = listener
        self.registry = registry
        self.policy = policy
        self.admission = admission
        self.settings = settings
    }

    /// The connection limits in force: the next connection is checked against them.
    public var admissionLimits: TunnelAdmissionLimits { admission.limits }

    /// The engine settings links that come up from now on get.
    public var configuration: TunnelConfiguration { settings.value.withLock { $0 } }

    /// Replaces the connection limits. They apply to the next connection accepted; connections open now are
    /// kept even when they exceed the new limits.
    public func updateAdmissionLimits(_ limits: TunnelAdmissionLimits) { admission.limits = limits }

    /// Replaces the engine settings (windows, budget, stream count, timers, limits, resolver) for links that
    /// come up from now on; links up now keep the settings they started with (their peer agreed to them), so
    /// their open flows are untouched.
    public func updateConfiguration(_ configuration: TunnelConfiguration) {
        settings.value.withLock { $0 = configuration }
    }

    /// Replaces the allow-list for links that come up from now on; links up now keep the list they started with,
    /// and their open flows are untouched.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` when an entry names the listener itself; the list in force
    ///   then stays.
    public func updateAllowList(_ allowList: TunnelAllowList) throws(TunnelError) {
        var policy = currentPolicy
        policy.allowList = allowList
        try updatePolicy(policy)
    }

    /// Replaces the allow-list and the per-peer permissions for links that come up from now on; links up now
    /// keep what they started with.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` when an entry names the listener itself; the policy in force
    ///   then stays.
    public func updatePolicy(_ policy: TunnelAccessPolicy) throws(TunnelError) {
        if let address = listener.localAddress { try policy.check(listener: address) }
        self.policy.value.withLock { $0 = policy }
    }

    /// Binds the listener and starts accepting peer links.
    ///
    /// - Parameters:
    ///   - listen: the address and port to listen on.
    ///   - allowList: the targets streams may connect to; empty refuses every stream.
    ///   - permissions: which targets each peer (by certificate name) may reach, within the allow-list.
    ///   - configuration: the engine and flow-control settings.
    ///   - security: mutual TLS (a peer link gets a session only after its handshake) or explicit plaintext.
    ///   - limits: the most peer connections at once, in all and per source address.
    ///   - store: the chunk store shared by every link.
    ///   - group: the event loops to run on.
    ///   - logger: where notable events are logged (links up and down, refusals and why), at `info`; events a
    ///     peer can repeat are rate-limited. Default: nothing is logged.
    /// - Throws: the bind error, or ``TunnelError`` `invalidArgument` when an entry names the listener itself.
    public static func start(
        listen: TunnelTarget, allowList: TunnelAllowList, permissions: TunnelPermissions,
        configuration: TunnelConfiguration, security: TunnelSecurity, admission limits: TunnelAdmissionLimits = .standard,
        store: any ChunkStore, group: any EventLoopGroup, logger: Logger = TunnelLog.silent
    ) async throws -> TunnelServer {
        let admission = TunnelAdmission(limits: limits)
        let policy = TunnelAccessPolicy(allowList: allowList, permissions: permissions)
        let registry = SessionRegistry()
        let holder = PolicyHolder(policy)
        let settings = Shared(configuration)
        let log = TunnelLog(logger)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let refusal = admission.admit(channel) {
                        let address = channel.remoteAddress.map(TunnelLog.format) ?? "a peer"
                        log.event("admission", "refusing \(address): \(refusal)")
                        TunnelMetrics.shared.handshakeFailed(.admission)
                        channel.close(promise: nil)
                        return
                    }
                    try PeerChannel.secure(channel, end: .server, security: security, log: log) { identity in
                        let configuration = settings.value.withLock { $0 }
                        let dialer = TargetDialer(
                            policy: holder.value.withLock { $0 }, identity: identity,
                            listener: channel.parent?.localAddress, resolver: configuration.resolver)
                        let session = try PeerSession(
                            role: .server(dialer), configuration: configuration, store: store,
                            peerName: PeerChannel.describe(channel, identity), logger: log.linkLogger())
                        try PeerChannel.configure(channel, session: session)
                        registry.add(session, channel: channel)
                    }
                }
            }
            .bind(host: listen.host, port: listen.port)
            .get()
        do {
            if let address = listener.localAddress { try policy.check(listener: address) }
        } catch {
            try? await listener.close()
            throw error
        }
        return TunnelServer(
            listener: listener, registry: registry, policy: holder, admission: admission, settings: settings)
    }

    /// The counters of every link up now.
    public func statistics() -> [TunnelStatistics] { registry.statistics }

    /// The engine's pool jobs on each link up now.
    func poolJobs() -> [TunnelStatisticsBox.PoolJobs] { registry.poolJobs }

    /// Stops accepting links, lets open streams drain (up to the configured drain timeout), then closes every link.
    public func shutdown() async {
        try? await listener.close()
        await registry.drainAll()
    }
}

/// The server's current access policy, shared with its accept path.
private typealias PolicyHolder = Shared<TunnelAccessPolicy>

/// A value the server's accept path reads and a reload replaces.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
