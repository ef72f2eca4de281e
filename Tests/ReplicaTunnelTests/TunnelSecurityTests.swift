import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTunnel
import Synchronization
import Testing

/// The trust perimeter on real loopback sockets: who gets a link, and that nothing is dialled for anyone else.
@Suite(.serialized, .timeLimit(.minutes(3))) struct TunnelSecurityTests {
    @Test func aPlaintextPeerIsRefusedBeforeAnyTargetIsDialled() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let target = try await CountingServer.start(group: group)
        let log = LogCollector()
        let server = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: 0), allowList: TunnelAllowList(parsing: "127.0.0.1:\(target.port)"), permissions: .anyPeer,
            configuration: TunnelConfiguration(), security: try TestPKI.shared.server, store: WipeableStore(),
            group: group, logger: log.logger)
        let serverPort = try #require(server.localAddress?.port)
        // A v1-era peer: HELLO then OPEN to an allowed target, in the clear.
        var frames = ByteBuffer()
        let encoder = TunnelFrameEncoder()
        encoder.encode(
            data: .hello(TunnelHello(capabilities: [], storeID: .none, frameLimit: 2 << 20, receiveBudget: 64 << 20)),
            out: &frames)
        encoder.encode(
            data: .open(stream: 1, target: TunnelTarget(host: "127.0.0.1", port: target.port), window: 1 << 20),
            out: &frames)
        let outcome = try await runFlow(
            port: serverPort, payload: Array(frames.readableBytesView), group: group, halfClose: false)
        switch outcome {
        case .finished(let bytes), .failed(let bytes): #expect(bytes.count < 2048, "more than a TLS alert came back")
        }
        try await waitUntil { log.text.contains("refusing") }
        #expect(target.accepted == 0, "a target was dialled for an unauthenticated peer")
        #expect(server.statistics().isEmpty)
        await server.shutdown()
        try await target.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func aClientFromAnotherCAIsRefusedBeforeAnyTargetIsDialled() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let target = try await CountingServer.start(group: group)
        let pair = try await TunnelPair.start(
            targetPort: target.port, group: group, clientSecurity: try TestPKI.shared.rogueClient, waitForLink: false)
        try await waitUntil { pair.log.text.contains("server: refusing") }
        // The client may believe its handshake finished (TLS 1.3 checks its certificate after), but the server
        // never answers its hello: the link never comes up, and flows are refused at the client.
        let outcome = try await runFlow(port: pair.localPort, payload: Array("hello".utf8), group: group)
        #expect(outcome == .failed([]) || outcome == .finished([]), "\(outcome)")
        #expect(await !pair.client.isConnected)
        #expect(target.accepted == 0, "a target was dialled for a client of another CA")
        #expect(pair.server.statistics().isEmpty)
        await pair.shutdown()
        try await target.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func aServerWithTheWrongNameIsRefusedByTheClient() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await AppServer.start(group: group)
        let pair = try await TunnelPair.start(
            targetPort: app.port, group: group,
            clientSecurity: try TestPKI.shared.security(as: "client", expectedPeerName: "other"), waitForLink: false)
        try await waitUntil { pair.log.text.contains("client: refusing") }
        #expect(pair.log.text.contains("not other"), "\(pair.log.text)")
        #expect(await !pair.client.isConnected)
        await pair.shutdown()
        try await app.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func aPinnedCertificateIsTrustedWithoutACA() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await AppServer.start(group: group)
        let pki = TestPKI.shared
        let serverSecurity = try TunnelSecurity.mutualTLS(
            certificateFile: pki.path("server.pem"), keyFile: pki.path("server.key"), caFile: nil,
            pinnedCertificateFiles: [pki.path("client.pem")])
        let pair = try await TunnelPair.start(targetPort: app.port, group: group, serverSecurity: serverSecurity)
        let payload = Payload.text(100_000, seed: 21)
        #expect((try await runFlow(port: pair.localPort, payload: payload, group: group)).mismatch(payload) == nil, "\(pair.log.text)")
        await pair.shutdown()
        // Another certificate of the same CA is not pinned: refused.
        let refused = try await TunnelPair.start(
            targetPort: app.port, group: group, serverSecurity: serverSecurity,
            clientSecurity: try pki.security(as: "other"), waitForLink: false)
        try await waitUntil { refused.log.text.contains("server: refusing") }
        #expect(await !refused.client.isConnected)
        await refused.shutdown()
        try await app.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func plaintextModeWorksWhenBothEndsAskForIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await AppServer.start(group: group)
        let pair = try await TunnelPair.start(
            targetPort: app.port, group: group, serverSecurity: .insecurePlaintext(),
            clientSecurity: .insecurePlaintext())
        let payload = Payload.text(100_000, seed: 22)
        #expect((try await runFlow(port: pair.localPort, payload: payload, group: group)).mismatch(payload) == nil, "\(pair.log.text)")
        await pair.shutdown()
        try await app.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func aConnectionIdleInTheHandshakeIsClosedByTheDeadline() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = LogCollector()
        let server = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: 0), allowList: TunnelAllowList(), permissions: .anyPeer,
            configuration: TunnelConfiguration(),
            security: try TestPKI.shared.security(as: "server", handshakeTimeout: .milliseconds(300)),
            store: WipeableStore(), group: group, logger: log.logger)
        let serverPort = try #require(server.localAddress?.port)
        // Connects, sends nothing, and reads: the server must close the connection by itself.
        let outcome = try await runFlow(port: serverPort, payload: [], group: group, halfClose: false)
        #expect(outcome == .finished([]) || outcome == .failed([]), "\(outcome)")
        #expect(log.text.contains("no TLS handshake within 300 ms"), "\(log.text)")
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func aTamperedRecordDropsTheLink() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await AppServer.start(group: group)
        let log = LogCollector()
        let server = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: 0), allowList: TunnelAllowList(parsing: "127.0.0.1:\(app.port)"), permissions: .anyPeer,
            configuration: TunnelConfiguration(), security: try TestPKI.shared.server, store: WipeableStore(),
            group: group, logger: log.logger(prefix: "server: "))
        let relay = try await TamperingRelay.start(to: try #require(server.localAddress?.port), group: group)
        let client = try await TunnelClient.start(
            peer: TunnelTarget(host: "127.0.0.1", port: relay.port),
            forwards: [TunnelForward(localPort: 0, target: TunnelTarget(host: "127.0.0.1", port: app.port))],
            configuration: TunnelConfiguration(), security: try TestPKI.shared.client, store: WipeableStore(),
            group: group, logger: log.logger(prefix: "client: "))
        try await waitUntil { await client.isConnected }
        let localPort = try #require(client.listenAddresses.first??.port)
        let clean = Payload.text(50_000, seed: 23)
        #expect((try await runFlow(port: localPort, payload: clean, group: group)).mismatch(clean) == nil, "\(log.text)")
        // From now on the relay flips one bit of the client's next TLS record.
        relay.armed.withLock { $0 = true }
        let payload = Payload.random(200_000, seed: 24)
        let outcome = try await runFlow(port: localPort, payload: payload, group: group)
        #expect(outcome.mismatch(payload) != nil, "a tampered link delivered the flow")
        if case .finished(let bytes) = outcome { #expect(payload.starts(with: bytes), "corrupt bytes were delivered") }
        #expect(relay.flipped.withLock { $0 } == 1)
        // The server's TLS layer rejects the record (bad record MAC) and the link is closed.
        try await waitUntil { log.text.contains("server: closing the link") || log.text.contains("server: the link") }
        await client.shutdown()
        await server.shutdown()
        try await relay.channel.close()
        try await app.channel.close()
        try await group.shutdownGracefully()
    }
}

/// A listener that counts the connections it accepts and closes each: a target that must never be dialled.
final class CountingServer: Sendable {
    let channel: any Channel
    private let count: Counter
    var port: Int { channel.localAddress?.port ?? 0 }
    var accepted: Int { count.value }

    private init(channel: any Channel, count: Counter) {
        self.channel = channel
        self.count = count
    }

    static func start(group: any EventLoopGroup) async throws -> CountingServer {
        let count = Counter()
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                count.increment()
                return channel.close()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return CountingServer(channel: channel, count: count)
    }
}

/// A thread-safe count.
final class Counter: Sendable {
    private let state = Mutex(0)
    var value: Int { state.withLock { $0 } }
    func increment() { state.withLock { $0 += 1 } }
}

/// A TCP relay on 127.0.0.1 in front of a tunnel server, as an on-path attacker: once ``armed``, it flips one
/// bit in the next chunk of bytes the client sends, then relays faithfully again.
final class TamperingRelay: Sendable {
    let channel: any Channel
    let armed = Mutex(false)
    let flipped = Mutex(0)
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start(to serverPort: Int, group: any EventLoopGroup) async throws -> TamperingRelay {
        let relay = Box<TamperingRelay>()
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { inbound in
                // The inbound channel is registered (and read) only once this future completes, so nothing
                // is lost while the outbound connection is made.
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: serverPort)
                    .flatMap { outbound in
                        let (toServer, toClient) = RelayHandler.pair(tamper: relay.value)
                        return inbound.pipeline.addHandler(toServer).flatMap {
                            outbound.pipeline.addHandler(toClient)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let made = TamperingRelay(channel: channel)
        relay.value = made
        return made
    }

    /// Flips one bit of `buffer` if armed; called on the client-to-server direction.
    func tamper(_ buffer: inout ByteBuffer) {
        let armed = self.armed.withLock { armed in
            defer { armed = false }
            return armed
        }
        guard armed, buffer.readableBytes > 8 else { return }
        let index = buffer.readerIndex + buffer.readableBytes / 2
        buffer.setInteger((buffer.getInteger(at: index, as: UInt8.self) ?? 0) ^ 0x01, at: index)
        flipped.withLock { $0 += 1 }
    }
}

/// A settable reference, filled in after the relay exists.
final class Box<Value: AnyObject & Sendable>: @unchecked Sendable {
    private let state = Mutex<Value?>(nil)
    var value: Value? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// One side of the relay: writes what it reads to its partner's channel, and closes both when either closes.
/// Both channels of a pair live on one event loop, hence `@unchecked Sendable`.
final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    private let tamper: TamperingRelay?

    private init(tamper: TamperingRelay?) { self.tamper = tamper }

    /// The handler of the client side (tampering) and of the server side.
    static func pair(tamper: TamperingRelay?) -> (RelayHandler, RelayHandler) {
        let toServer = RelayHandler(tamper: tamper)
        let toClient = RelayHandler(tamper: nil)
        toServer.partner = toClient
        toClient.partner = toServer
        return (toServer, toClient)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        tamper?.tamper(&buffer)
        partner?.context?.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        partner = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
