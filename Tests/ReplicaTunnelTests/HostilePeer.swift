import NIOCore
import NIOPosix
import ReplicaCore
import Synchronization

@testable import ReplicaTunnel

/// A peer that speaks the frame protocol by hand, to do what a well-behaved ``TunnelClient`` never would. It
/// records what the server sends back.
final class HostilePeer: Sendable {
    let channel: any Channel
    private let inbox: FrameInbox

    private init(channel: any Channel, inbox: FrameInbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Connects to the server and completes the mutual-TLS handshake as the deployment's `client` (an
    /// authenticated peer that lies), unless `security` says otherwise; with `reading: false` the peer never reads
    /// a byte of what the server sends. Returns once the peer may send frames.
    static func connect(
        port: Int, group: any EventLoopGroup, reading: Bool = true, security: TunnelSecurity? = nil
    ) async throws -> HostilePeer {
        let inbox = FrameInbox()
        let security = try security ?? TestPKI.shared.client
        let ready = group.next().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                // Reads stay on for the handshake; a peer that does not read turns them off once it is done.
                .channelOption(.autoRead, value: true)
                // A peer that does not read keeps its receive buffer small, so the server feels it sooner.
                .channelOption(.socketOption(.so_rcvbuf), value: reading ? 1 << 20 : 4096)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        channel.closeFuture.whenComplete { _ in
                            ready.fail(TunnelError(.linkClosed, "the server closed the link during the handshake"))
                        }
                        let operations = channel.pipeline.syncOperations
                        try PeerChannel.secure(channel, end: .client, security: security, log: TunnelLog { _ in }) { _ in
                            try operations.addHandler(InboundByteCounter(inbox: inbox))
                            try operations.addHandler(ByteToMessageHandler(TunnelFrameDecoder(frameLimit: 64 << 20)))
                            try operations.addHandler(MessageToByteHandler(TunnelFrameEncoder()))
                            try operations.addHandler(FrameCollector(inbox: inbox))
                            if !reading { try channel.syncOptions?.setOption(.autoRead, value: false) }
                            ready.succeed()
                        }
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            ready.fail(error)
            throw error
        }
        try await ready.futureResult.get()
        return HostilePeer(channel: channel, inbox: inbox)
    }

    /// A hello of this protocol version.
    static let hello = TunnelFrame.hello(
        TunnelHello(capabilities: [.chunkRecovery], storeID: .random(), frameLimit: 2 << 20, receiveBudget: 64 << 20))

    /// Writes and flushes frames.
    func send(_ frames: [TunnelFrame]) async throws {
        for frame in frames { channel.write(frame, promise: nil) }
        try await channel.writeAndFlush(TunnelFrame.ping(0)).get()
    }

    /// Writes and flushes frames without waiting for them to leave.
    func post(_ frames: [TunnelFrame]) {
        for frame in frames { channel.write(frame, promise: nil) }
        channel.flush()
    }

    /// Writes frames when the channel is writable (else writes nothing); returns whether it wrote.
    func offer(_ frames: [TunnelFrame]) async throws -> Bool {
        let channel = self.channel
        return try await channel.eventLoop.submit {
            guard channel.isWritable else { return false }
            for frame in frames { channel.write(frame, promise: nil) }
            channel.flush()
            return true
        }.get()
    }

    var frames: [TunnelFrame] { inbox.frames.withLock { $0 } }
    var bytesReceived: Int { inbox.bytes.withLock { $0 } }
    var isClosed: Bool { !channel.isActive }

    /// The GOAWAY the server sent, if any.
    var goAway: (code: TunnelError.Code, reason: String)? {
        for frame in frames.reversed() { if case .goAway(let code, let reason) = frame { return (code, reason) } }
        return nil
    }

    /// Waits until the server grants stream `id` credit (its target is connected).
    func waitForWindow(on id: UInt32) async throws {
        try await waitUntil(timeout: .seconds(10)) {
            frames.contains { if case .windowUpdate(id, _) = $0 { true } else { false } }
        }
    }

    func close() async { try? await channel.close() }
}

private final class FrameInbox: Sendable {
    let frames = Mutex<[TunnelFrame]>([])
    let bytes = Mutex(0)
}

private final class InboundByteCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let inbox: FrameInbox
    init(inbox: FrameInbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = unwrapInboundIn(data).readableBytes
        inbox.bytes.withLock { $0 += count }
        context.fireChannelRead(data)
    }
}

private final class FrameCollector: ChannelInboundHandler {
    typealias InboundIn = TunnelFrame
    let inbox: FrameInbox
    init(inbox: FrameInbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // Keep only what tests look at, so a long run does not grow the test process.
        inbox.frames.withLock { frames in
            if frames.count < 10_000 { frames.append(frame) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// A store wrapper that says yes to every chunk the real store holds and records each reference, to build
/// DATA frames by hand (the tunnel's own encoder references only chunks the peer is known to hold).
final class RecordingStore: ChunkWriting, Sendable {
    let store: any ChunkWriting
    let references = Mutex<[Fingerprint]>([])
    init(_ store: any ChunkWriting) { self.store = store }
    var storeID: StoreID { store.storeID }
    func contains(_ fingerprint: Fingerprint) -> Bool {
        guard store.contains(fingerprint) else { return false }
        references.withLock { $0.append(fingerprint) }
        return true
    }
    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? {
        guard let bytes = try store.get(fingerprint) else { return nil }
        references.withLock { $0.append(fingerprint) }
        return bytes
    }
    func successor(of fingerprint: Fingerprint) -> Fingerprint? { store.successor(of: fingerprint) }
    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        try store.put(bytes, as: fingerprint)
    }
}

/// Builds the DATA payload of `bytes` as the first frame of a direction (stream header included).
func handmadeData(_ bytes: [UInt8], store: any ChunkWriting, declaring length: Int? = nil) throws -> TunnelData {
    let recording = RecordingStore(store)
    let encoder = try StreamEncoder(configuration: TunnelConfiguration.defaultEncoder(), store: recording)
    var encoded: [UInt8] = []
    try encoder.encode(bytes, into: &encoded)
    try encoder.flush(into: &encoded)
    let checksum = bytes.withUnsafeBytes { LinkChecksum.of($0) }
    return TunnelData(
        decodedLength: UInt32(length ?? bytes.count), checksum: checksum,
        references: Array(Set(recording.references.withLock { $0 })), encoded: ByteBuffer(bytes: encoded))
}
