public import NIOCore
import NIOPosix
public import ReplicaCore
import Synchronization

/// The far end of a tunnel: accepts peer links and connects their streams to the targets its allow-list permits.
///
/// ```swift
/// let server = try await TunnelServer.start(
///     listen: TunnelTarget(host: "0.0.0.0", port: 7000), allowList: TunnelAllowList(parsing: "10.0.0.5:80"),
///     configuration: TunnelConfiguration(), store: MemoryChunkStore(capacity: 256 << 20), group: group)
/// ```
public final class TunnelServer: Sendable {
    private let listener: any Channel
    private let registry: SessionRegistry
    private let allowList: AllowListHolder

    /// The address the server listens on (with the real port when 0 was asked for).
    public var localAddress: SocketAddress? { listener.localAddress }

    /// The allow-list links that come up from now on get.
    public var currentAllowList: TunnelAllowList { allowList.value.withLock { $0 } }

    private init(listener: any Channel, registry: SessionRegistry, allowList: AllowListHolder) {
        self.listener = listener
        self.registry = registry
        self.allowList = allowList
    }

    /// Replaces the allow-list for links that come up from now on; links up now keep the list they started with,
    /// and their open flows are untouched.
    public func updateAllowList(_ allowList: TunnelAllowList) {
        self.allowList.value.withLock { $0 = allowList }
    }

    /// Binds the listener and starts accepting peer links.
    ///
    /// - Parameters:
    ///   - listen: the address and port to listen on.
    ///   - allowList: the targets streams may connect to; empty refuses every stream.
    ///   - configuration: the engine and flow-control settings.
    ///   - store: the chunk store shared by every link.
    ///   - group: the event loops to run on.
    ///   - logger: receives a line per notable event.
    /// - Throws: the bind error.
    public static func start(
        listen: TunnelTarget, allowList: TunnelAllowList, configuration: TunnelConfiguration, store: any ChunkStore,
        group: any EventLoopGroup, logger: @escaping TunnelLogger = { _ in }
    ) async throws -> TunnelServer {
        let registry = SessionRegistry()
        let holder = AllowListHolder(allowList)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let session = try PeerSession(
                        role: .server(holder.value.withLock { $0 }), configuration: configuration, store: store,
                        peerName: channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "peer", logger: logger)
                    try PeerChannel.configure(channel, session: session)
                    registry.add(session, channel: channel)
                }
            }
            .bind(host: listen.host, port: listen.port)
            .get()
        return TunnelServer(listener: listener, registry: registry, allowList: holder)
    }

    /// The counters of every link up now.
    public func statistics() -> [TunnelStatistics] { registry.statistics }

    /// Stops accepting links, lets open streams drain (up to the configured drain timeout), then closes every link.
    public func shutdown() async {
        try? await listener.close()
        await registry.drainAll()
    }
}

/// The server's current allow-list, shared with its accept path.
private final class AllowListHolder: Sendable {
    let value: Mutex<TunnelAllowList>
    init(_ allowList: TunnelAllowList) { value = Mutex(allowList) }
}
