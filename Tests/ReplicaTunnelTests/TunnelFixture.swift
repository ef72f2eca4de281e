import Logging
import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTunnel
import Synchronization

/// Echoes what it reads; after the peer's FIN it finishes echoing and sends its own FIN.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(mode: .output, promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Reads until the peer's FIN, then answers `received N` and closes: data that flows after a half-close.
final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var count = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "received \(count)")))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// An application server on 127.0.0.1 (echo or sink).
struct AppServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(group: any EventLoopGroup, sink: Bool = false) async throws -> AppServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 512)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(sink ? SinkHandler() as any ChannelHandler : EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return AppServer(channel: channel)
    }
}

/// The outcome of one application connection through the tunnel.
enum FlowOutcome: Equatable, CustomStringConvertible {
    /// The connection ended with a FIN after these bytes.
    case finished([UInt8])
    /// The connection was reset or failed after these bytes.
    case failed([UInt8])

    /// A short description (byte counts, not bytes), so a failed expectation stays readable.
    var description: String {
        switch self {
        case .finished(let bytes): "finished after \(bytes.count) bytes"
        case .failed(let bytes): "failed after \(bytes.count) bytes"
        }
    }

    /// `nil` when the flow finished with exactly `expected`, else what went wrong.
    func mismatch(_ expected: [UInt8]) -> String? {
        guard case .finished(let bytes) = self else { return "\(self), expected \(expected.count) bytes" }
        guard bytes != expected else { return nil }
        let first = (0..<min(bytes.count, expected.count)).first { bytes[$0] != expected[$0] } ?? min(bytes.count, expected.count)
        return "\(self), expected \(expected.count); first difference at \(first)"
    }
}

/// Collects log lines from a tunnel endpoint (through a swift-log `Logger`), for failure messages.
final class LogCollector: Sendable {
    private let lines = Mutex<[String]>([])
    /// A logger whose lines land here.
    var logger: Logger { logger(prefix: "") }
    /// A logger whose lines land here behind `prefix`.
    func logger(prefix: String) -> Logger {
        var logger = Logger(label: "test") { _ in LineCollectingHandler(prefix: prefix, collector: self) }
        logger.logLevel = .trace
        return logger
    }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var text: String { lines.withLock { $0.suffix(30).joined(separator: "\n") } }
}

/// Connects to `port`, sends `payload`, half-closes, and reads until EOF or error.
///
/// A connection whose send failed ends `.failed`, whatever its reader saw: NIO closes a connection whose write
/// meets a reset without reporting an error to the reader, which then sees a clean end.
///
/// - Parameters:
///   - pauseBeforeReading: how long to leave the connection unread after sending (a slow reader).
///   - initializer: adds handlers in front of the reader (on the channel's loop, before it connects).
func runFlow(
    port: Int, payload: [UInt8], group: any EventLoopGroup, halfClose: Bool = true,
    pauseBeforeReading: Duration = .zero, readLimit: Int = .max,
    initializer: (@Sendable (any Channel) throws -> Void)? = nil
) async throws -> FlowOutcome {
    let sends = SendFailures()
    let channel = try await ClientBootstrap(group: group)
        .channelOption(.allowRemoteHalfClosure, value: true)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(sends)
                try initializer?(channel)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(isOutboundHalfClosureEnabled: true))
            }
        }
    // A watchdog: a flow that hangs (a bug) is closed after two minutes and reported as failed, so a broken
    // build fails its tests instead of stalling CI.
    let underlying = channel.channel
    let watchdog = Task {
        try await Task.sleep(for: .seconds(120))
        try await underlying.close()
    }
    defer { watchdog.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
        async let reading: FlowOutcome = {
            if pauseBeforeReading > .zero { try? await Task.sleep(for: pauseBeforeReading) }
            var received: [UInt8] = []
            do {
                for try await var part in inbound {
                    received += part.readBytes(length: part.readableBytes) ?? []
                    if received.count >= readLimit { break }
                }
            } catch {
                return .failed(received)
            }
            return sends.failed ? .failed(received) : .finished(received)
        }()
        var offset = 0
        do {
            while offset < payload.count {
                let end = min(payload.count, offset + (256 << 10))
                try await outbound.write(ByteBuffer(bytes: payload[offset..<end]))
                offset = end
            }
            if halfClose { outbound.finish() }
        } catch {
            sends.record()
        }
        return await reading
    }
}

/// Records whether a connection's send failed: a write the writer could not make, or one NIO could not pass to
/// the socket.
final class SendFailures: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    private let state = Mutex(false)

    var failed: Bool { state.withLock { $0 } }
    func record() { state.withLock { $0 = true } }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let promise = promise ?? context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in self.record() }
        context.write(data, promise: promise)
    }
}

/// A tunnel server and client on 127.0.0.1 forwarding one local port to `target`. Both run on a
/// `DiskChunkStore` in a scratch directory (64 MiB, so longer tests evict) unless a test passes a store to
/// inject a fault.
struct TunnelPair {
    let server: TunnelServer
    let client: TunnelClient
    let log: LogCollector
    let scratch: [ScratchStore]
    var localPort: Int { client.listenAddresses.first??.port ?? 0 }

    static func start(
        targetPort: Int, group: any EventLoopGroup, serverGroup: (any EventLoopGroup)? = nil,
        serverStore: (any ChunkStore)? = nil, clientStore: (any ChunkStore)? = nil,
        configuration: TunnelConfiguration? = nil, serverPort: Int = 0, allow: String? = nil,
        serverSecurity: TunnelSecurity? = nil, clientSecurity: TunnelSecurity? = nil, waitForLink: Bool = true,
        admission: TunnelAdmissionLimits = .standard
    ) async throws -> TunnelPair {
        let configuration = try configuration ?? TunnelConfiguration()
        var scratch: [ScratchStore] = []
        func disk() throws -> any ChunkStore {
            let store = try ScratchStore(capacity: 64 << 20)
            scratch.append(store)
            // Tests that end without `shutdown()` (a killed end) leave it to `ScratchStore.removeLeftovers()`.
            ScratchStore.leftovers.withLock { $0.append(store) }
            return store.store
        }
        let serverStore = try serverStore ?? disk()
        let clientStore = try clientStore ?? disk()
        let log = LogCollector()
        let server = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: serverPort),
            allowList: TunnelAllowList(parsing: allow ?? "127.0.0.1:\(targetPort)"), permissions: .anyPeer, configuration: configuration,
            security: try serverSecurity ?? TestPKI.shared.server, admission: admission, store: serverStore, group: serverGroup ?? group, logger: log.logger(prefix: "server: "))
        let client = try await TunnelClient.start(
            peer: TunnelTarget(host: "127.0.0.1", port: server.localAddress?.port ?? 0),
            forwards: [TunnelForward(localPort: 0, target: TunnelTarget(host: "127.0.0.1", port: targetPort))],
            configuration: configuration, security: try clientSecurity ?? TestPKI.shared.client, store: clientStore,
            group: group, logger: log.logger(prefix: "client: "))
        if waitForLink { try await waitUntil { await client.isConnected } }
        return TunnelPair(server: server, client: client, log: log, scratch: scratch)
    }

    func shutdown() async {
        await client.shutdown()
        await server.shutdown()
        for store in scratch { store.remove() }
    }
}

/// Polls `condition` every 20 ms for up to `timeout`; throws if it never holds.
func waitUntil(timeout: Duration = .seconds(20), _ condition: () async -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TunnelError(.peerTimeout, "a condition did not hold within \(timeout)")
}

/// A swift-log handler that appends each message to a ``LogCollector``.
struct LineCollectingHandler: LogHandler {
    let prefix: String
    let collector: LogCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { collector.append(prefix + "\(event.message)") }
}
