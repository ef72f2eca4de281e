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

    /// The address the server listens on (with the real port when 0 was asked for).
    public var localAddress: SocketAddress? { listener.localAddress }

    /// The allow-list links that come up from now on get.
    public var currentAllowList: TunnelAllowList { policy.value.withLock { $0.allowList } }

    /// The access policy (allow-list and per-peer permissions) links that come up from now on get.
    public var currentPolicy: TunnelAccessPolicy { policy.value.withLock { $0 } }

    private init(listener: any Channel, registry: SessionRegistry, policy: PolicyHolder) {
        self.listener = listener
        self.registry = registry
        self.policy = policy
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
    ///   - logger: receives a line per notable event.
    /// - Throws: the bind error, or ``TunnelError`` `invalidArgument` when an entry names the listener itself.
    public static func start(
        listen: TunnelTarget, allowList: TunnelAllowList, permissions: TunnelPermissions,
        configuration: TunnelConfiguration, security: TunnelSecurity, admission limits: TunnelAdmissionLimits = .standard,
        store: any ChunkStore, group: any EventLoopGroup, logger: @escaping TunnelLogger = { _ in }
    ) async throws -> TunnelServer {
        let admission = TunnelAdmission(limits: limits)
        let policy = TunnelAccessPolicy(allowList: allowList, permissions: permissions)
        let registry = SessionRegistry()
        let holder = PolicyHolder(policy)
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
                        channel.close(promise: nil)
                        return
                    }
                    try PeerChannel.secure(channel, end: .server, security: security, log: log) { identity in
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
        return TunnelServer(listener: listener, registry: registry, policy: holder)
    }

    /// The counters of every link up now.
    public func statistics() -> [TunnelStatistics] { registry.statistics }

    /// Stops accepting links, lets open streams drain (up to the configured drain timeout), then closes every link.
    public func shutdown() async {
        try? await listener.close()
        await registry.drainAll()
    }
}

/// The server's current access policy, shared with its accept path.
private final class PolicyHolder: Sendable {
    let value: Mutex<TunnelAccessPolicy>
    init(_ policy: TunnelAccessPolicy) { value = Mutex(policy) }
}
