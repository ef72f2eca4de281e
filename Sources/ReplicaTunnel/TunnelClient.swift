public import Logging
public import NIOCore
import NIOPosix
public import ReplicaCore
import Synchronization

/// One `-L` forward: a local listening port whose connections are carried to a target behind the server.
public struct TunnelForward: Hashable, Sendable, CustomStringConvertible {
    /// The local address to listen on.
    public var bindHost: String
    /// The local port (0 picks a free one).
    public var localPort: Int
    /// Where the server connects each stream.
    public var target: TunnelTarget

    /// Creates a forward.
    public init(bindHost: String = "127.0.0.1", localPort: Int, target: TunnelTarget) {
        self.bindHost = bindHost
        self.localPort = localPort
        self.target = target
    }

    /// Parses ssh's `-L` form: `LOCALPORT:TARGETHOST:TARGETPORT` or `BINDHOST:LOCALPORT:TARGETHOST:TARGETPORT`.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming what is wrong.
    public init(parsing text: String) throws(TunnelError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4 else {
            throw TunnelError(.invalidArgument, "'\(text)' is not [BINDHOST:]LOCALPORT:TARGETHOST:TARGETPORT")
        }
        let bindHost = parts.count == 4 ? String(parts[0]) : "127.0.0.1"
        guard let localPort = Int(parts[parts.count - 3]), (0...65535).contains(localPort), !bindHost.isEmpty else {
            throw TunnelError(.invalidArgument, "'\(text)': the local port must be 0...65535")
        }
        let target = try TunnelTarget(parsing: parts.suffix(2).joined(separator: ":"))
        self.init(bindHost: bindHost, localPort: localPort, target: target)
    }

    public var description: String { "\(bindHost):\(localPort) -> \(target)" }
}

/// The near end of a tunnel: listens on each forward's local port and carries every accepted connection over
/// one peer link, which it keeps up, reconnecting with exponential backoff and jitter.
///
/// While the link is down, a new local connection waits up to ``TunnelConfiguration/linkWait`` for it (unread, so
/// its data stays in the application's socket) and is then refused with a TCP reset; with a zero wait it is
/// refused at once (fail fast). Connections that were open when the link went down are reset, never silently
/// cut short.
public final class TunnelClient: Sendable {
    private let core: NIOLoopBound<ClientCore>
    private let link: LinkFlag
    /// The forwards and their listeners, in the order given (reloads append new ones).
    private let listeners: Mutex<[(forward: TunnelForward, channel: any Channel)]>
    private let registry: SessionRegistry

    /// The local addresses of the forwards, in the order given.
    public var listenAddresses: [SocketAddress?] { listeners.withLock { $0.map(\.channel.localAddress) } }

    /// The forwards carried now.
    public var forwards: [TunnelForward] { listeners.withLock { $0.map(\.forward) } }

    private init(
        core: NIOLoopBound<ClientCore>, listeners: [(forward: TunnelForward, channel: any Channel)],
        registry: SessionRegistry, link: LinkFlag
    ) {
        self.core = core
        self.link = link
        self.listeners = Mutex(listeners)
        self.registry = registry
    }

    /// Binds every forward's listener and starts connecting to the server.
    ///
    /// - Parameters:
    ///   - peer: the server's address.
    ///   - forwards: the local ports to carry.
    ///   - configuration: the engine, flow-control and reconnect settings.
    ///   - security: mutual TLS (the link gets a session only after its handshake) or explicit plaintext.
    ///   - store: the chunk store.
    ///   - group: the event loop group; the client runs on one of its loops.
    ///   - logger: where notable events are logged (link up and down, reconnects, refusals), at `info`.
    ///     Default: nothing is logged.
    /// - Throws: a bind error.
    public static func start(
        peer: TunnelTarget, forwards: [TunnelForward], configuration: TunnelConfiguration, security: TunnelSecurity,
        store: any ChunkStore, group: any EventLoopGroup, logger: Logger = TunnelLog.silent
    ) async throws -> TunnelClient {
        let logger = TunnelLog.sink(logger)
        let loop = group.next()
        let registry = SessionRegistry()
        let link = LinkFlag()
        let core = try await loop.submit {
            NIOLoopBound(
                ClientCore(
                    peer: peer, configuration: configuration, security: security, store: store, loop: loop,
                    registry: registry, link: link, logger: logger), eventLoop: loop)
        }.get()
        var listeners: [(forward: TunnelForward, channel: any Channel)] = []
        do {
            for forward in forwards { listeners.append((forward, try await listen(forward, core: core))) }
        } catch {
            for listener in listeners { try? await listener.channel.close() }
            throw error
        }
        try await loop.submit { core.value.connect() }.get()
        return TunnelClient(core: core, listeners: listeners, registry: registry, link: link)
    }

    private static func listen(_ forward: TunnelForward, core: NIOLoopBound<ClientCore>) async throws -> any Channel {
        try await ServerBootstrap(group: core.eventLoop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptHandler(core: core, target: forward.target))
                }
            }
            .bind(host: forward.bindHost, port: forward.localPort)
            .get()
    }

    /// Makes `forwards` the carried set: binds the new ones and closes the listeners of those gone. Flows
    /// already open keep running, whichever listener accepted them.
    ///
    /// - Returns: the forwards added and removed.
    /// - Throws: a bind error of a new forward; the ones bound before it stay.
    @discardableResult
    public func updateForwards(
        _ forwards: [TunnelForward]
    ) async throws -> (added: [TunnelForward], removed: [TunnelForward]) {
        let current = self.forwards
        let removed = current.filter { !forwards.contains($0) }
        for forward in removed {
            let channel = listeners.withLock { list -> (any Channel)? in
                guard let index = list.firstIndex(where: { $0.forward == forward }) else { return nil }
                return list.remove(at: index).channel
            }
            try? await channel?.close()
        }
        var added: [TunnelForward] = []
        for forward in forwards where !current.contains(forward) {
            let channel = try await Self.listen(forward, core: core)
            listeners.withLock { $0.append((forward, channel)) }
            added.append(forward)
        }
        return (added, removed)
    }

    /// The counters of the current link, or `nil` while it is down.
    public func statistics() -> TunnelStatistics? { registry.statistics.first }

    /// The engine's pool jobs on the current link, or `nil` while it is down.
    func poolJobs() -> TunnelStatisticsBox.PoolJobs? { registry.poolJobs.first }

    /// Whether the link is up and its handshake done.
    public var isConnected: Bool {
        get async { (try? await core.eventLoop.submit { self.core.value.isConnected }.get()) ?? false }
    }

    /// Replaces the engine settings (windows, budget, stream count, timers, limits) for the next link: the one
    /// up now keeps the settings it started with, so its open flows are untouched. Reconnect delays and the
    /// link wait apply from now on.
    public func updateConfiguration(_ configuration: TunnelConfiguration) async {
        try? await core.eventLoop.submit { self.core.value.configuration = configuration }.get()
    }

    /// Whether the link is up and its handshake done, read without waiting for the client's event loop (for
    /// health checks, which must answer even when every thread is busy).
    public var isLinkUp: Bool { link.isUp }

    /// Closes the listeners, lets open streams drain (up to the drain timeout), then closes the link.
    public func shutdown() async {
        for listener in listeners.withLock({ $0 }) { try? await listener.channel.close() }
        try? await core.eventLoop.submit { self.core.value.stop() }.get()
        await registry.drainAll()
    }
}

/// One connection attempt of a client: settled once it became a session (whose close then reconnects) or once
/// a reconnect was scheduled for its failure, so a failure seen twice (connect error and channel close)
/// schedules one reconnect.
final class ConnectAttempt {
    var settled = false
}

/// The client's state, confined to its event loop.
final class ClientCore {
    private let peer: TunnelTarget
    /// The settings of the next link (a reload may change them; the link up now keeps its own).
    var configuration: TunnelConfiguration
    private let security: TunnelSecurity
    private let store: any ChunkStore
    private let loop: any EventLoop
    private let registry: SessionRegistry
    private let link: LinkFlag
    private let logger: TunnelLogger
    private let log: TunnelLog
    private var session: PeerSession?
    private var attempt = 0
    private var stopped = false
    /// Local connections waiting for the link, with the timer that refuses each.
    private var waiting: [(channel: any Channel, target: TunnelTarget, holder: AcceptHandler, timer: Scheduled<Void>)] = []

    init(
        peer: TunnelTarget, configuration: TunnelConfiguration, security: TunnelSecurity, store: any ChunkStore,
        loop: any EventLoop, registry: SessionRegistry, link: LinkFlag, logger: @escaping TunnelLogger
    ) {
        self.link = link
        self.peer = peer
        self.configuration = configuration
        self.security = security
        self.log = TunnelLog(logger)
        self.store = store
        self.loop = loop
        self.registry = registry
        self.logger = logger
    }

    var isConnected: Bool { session?.isReady ?? false }

    func stop() {
        stopped = true
        let refused = waiting
        waiting.removeAll()
        for entry in refused {
            entry.timer.cancel()
            PeerSession.abort(entry.channel)
        }
    }

    func connect() {
        guard !stopped else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let attempt = NIOLoopBound(ConnectAttempt(), eventLoop: loop)
        let (configuration, security, store, log, registry, peer) = (
            self.configuration, self.security, self.store, self.log, self.registry, self.peer
        )
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(configuration.keepaliveTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A link that never becomes a session (refused or timed-out handshake) reconnects too.
                    channel.closeFuture.assumeIsolated().whenComplete { _ in bound.value.retry(attempt.value) }
                    try PeerChannel.secure(channel, end: .client, security: security, log: log) { identity in
                        attempt.value.settled = true
                        let session = try PeerSession(
                            role: .client, configuration: configuration, store: store,
                            peerName: identity.map { "\($0) at \(peer)" } ?? peer.description,
                            logger: log.linkLogger())
                        session.onReady = { bound.value.ready($0) }
                        session.onClose = { bound.value.lost($0) }
                        try PeerChannel.configure(channel, session: session)
                        registry.add(session, channel: channel)
                    }
                }
            }
            .connect(host: peer.host, port: peer.port)
            .assumeIsolated()
            .whenFailure { error in
                bound.value.logger("cannot reach the server \(peer): \(error)")
                bound.value.retry(attempt.value)
            }
    }

    private func ready(_ session: PeerSession) {
        self.session = session
        link.set(true)
        attempt = 0
        let queued = waiting
        waiting.removeAll()
        for entry in queued {
            entry.timer.cancel()
            guard entry.channel.isActive else { continue }
            let (held, inputClosed) = entry.holder.release()
            session.open(local: entry.channel, to: entry.target, held: held, inputClosed: inputClosed)
        }
    }

    /// A waiting connection's time is up.
    private func expire(_ channel: any Channel) {
        guard let index = waiting.firstIndex(where: { $0.channel === channel }) else { return }
        let entry = waiting.remove(at: index)
        logger("refusing a local connection for \(entry.target): the link to \(peer) stayed down")
        PeerSession.abort(entry.channel)
    }

    private func retry(_ attempt: ConnectAttempt) {
        guard !attempt.settled else { return }
        attempt.settled = true
        scheduleReconnect()
    }

    private func lost(_ session: PeerSession) {
        if self.session === session {
            self.session = nil
            link.set(false)
        }
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard !stopped else { return }
        let base = configuration.reconnectInitialDelay.nanoseconds << min(attempt, 20)
        let capped = min(base, configuration.reconnectMaximumDelay.nanoseconds)
        let delay = TimeAmount.nanoseconds(Int64(Double(capped) * Double.random(in: 0.5...1.0)))
        attempt += 1
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: delay) { bound.value.connect() }
    }

    /// A local connection arrived on a forward's port.
    func accepted(_ channel: any Channel, target: TunnelTarget, holder: AcceptHandler) {
        if !stopped, !isConnected, configuration.linkWait > .zero, waiting.count < configuration.maximumStreams {
            let bound = NIOLoopBound(self, eventLoop: loop)
            let timer = loop.scheduleTask(in: configuration.linkWait) { bound.value.expire(channel) }
            waiting.append((channel, target, holder, timer))
            return
        }
        _ = holder.release()
        guard !stopped, let session, session.isReady else {
            logger("refusing a local connection for \(target): the link to \(peer) is down")
            PeerSession.abort(channel)
            return
        }
        session.open(local: channel, to: target)
    }
}

/// Hands each accepted local connection to the client once it is active. While the connection waits for the
/// link it holds what NIO reads (NIO reads everything up to an EOF at once, even without a read request); then
/// it hands that over and leaves the pipeline.
final class AcceptHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let core: NIOLoopBound<ClientCore>
    private let target: TunnelTarget
    private var context: ChannelHandlerContext?
    private var held: [ByteBuffer] = []
    private var inputClosed = false

    init(core: NIOLoopBound<ClientCore>, target: TunnelTarget) {
        self.core = core
        self.target = target
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        core.value.accepted(context.channel, target: target, holder: self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        held.append(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Leaves the pipeline and returns what was read while waiting, and whether the EOF came.
    func release() -> ([ByteBuffer], Bool) {
        let result = (held, inputClosed)
        held = []
        if let context { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
        context = nil
        return result
    }
}

/// Whether a client's link is up: written on the client's loop, read from anywhere.
final class LinkFlag: Sendable {
    private let up = Atomic<Bool>(false)
    var isUp: Bool { up.load(ordering: .acquiring) }
    func set(_ value: Bool) { up.store(value, ordering: .releasing) }
}
