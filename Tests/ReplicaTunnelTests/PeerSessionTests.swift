import NIOCore
import NIOEmbedded
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// The session driven frame by frame on an `EmbeddedChannel`: handshake, limits and timers without sockets.
@Suite struct PeerSessionTests {
    func makeChannel(
        role: PeerSession.Role? = nil, encoder: EncoderConfiguration? = nil, configuration: TunnelConfiguration? = nil,
        store: MemoryChunkStore = MemoryChunkStore(capacity: 1 << 20)
    ) throws -> (EmbeddedChannel, PeerSession) {
        let role = role ?? .server(TargetDialer(
            policy: TunnelAccessPolicy(allowList: TunnelAllowList(), permissions: TunnelPermissions()), identity: nil,
            listener: nil))
        let configuration = try configuration ?? TunnelConfiguration(encoder: encoder,
            streamWindow: 64 << 10, linkBudget: 1 << 20, maximumStreams: 2, keepaliveInterval: .seconds(1),
            keepaliveTimeout: .seconds(3))
        let session = try PeerSession(
            role: role, configuration: configuration, store: store, peerName: "test",
            offload: nil, logger: { _ in })
        let channel = EmbeddedChannel(handler: session)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, session)
    }

    func hello(version: UInt16 = TunnelProtocol.version, keyCheck: UInt32 = 0, receiveBudget: UInt32 = 1 << 20) -> TunnelFrame {
        .hello(
            TunnelHello(
                version: version, capabilities: [.chunkRecovery], storeID: .random(), frameLimit: 1 << 20,
                receiveBudget: receiveBudget, fingerprintKeyCheck: keyCheck))
    }

    @Test func aPeerWithAnotherFingerprintKeyIsRefusedInTheHandshake() throws {
        let keyed = try EncoderConfiguration(
            codec: CodecConfiguration(.zstd, level: 1), fingerprinter: Fingerprinter(key: Array(repeating: 7, count: 32)))
        let (channel, _) = try makeChannel(encoder: keyed)
        _ = try outbound(channel)
        try channel.writeInbound(hello(keyCheck: 0))  // an unkeyed peer
        let frames = try outbound(channel)
        guard case .goAway(let code, let reason) = frames.last else {
            Issue.record("no GOAWAY: \(frames)")
            return
        }
        #expect(code == .handshakeFailed)
        #expect(reason.contains("--fingerprint-key"), "\(reason)")
        #expect(!channel.isActive)
    }

    func outbound(_ channel: EmbeddedChannel) throws -> [TunnelFrame] {
        var frames: [TunnelFrame] = []
        while let frame = try channel.readOutbound(as: TunnelFrame.self) { frames.append(frame) }
        return frames
    }

    @Test func sendsItsHelloFirst() throws {
        let (channel, _) = try makeChannel()
        let frames = try outbound(channel)
        guard case .hello(let hello) = frames.first else {
            Issue.record("first frame \(String(describing: frames.first))")
            return
        }
        #expect(hello.version == TunnelProtocol.version)
        _ = try channel.finish()
    }

    @Test func aVersionMismatchIsNamedAndClosesTheLink() throws {
        let (channel, session) = try makeChannel()
        _ = try outbound(channel)
        try channel.writeInbound(hello(version: 9))
        let frames = try outbound(channel)
        guard case .goAway(let code, let reason) = frames.last else {
            Issue.record("expected GOAWAY, got \(frames)")
            return
        }
        #expect(code == .versionMismatch)
        #expect(reason.contains("version 9"))
        #expect(!session.isReady)
        #expect(!channel.isActive)
    }

    @Test func aFrameBeforeTheHelloFailsTheHandshake() throws {
        let (channel, _) = try makeChannel()
        _ = try outbound(channel)
        try channel.writeInbound(TunnelFrame.ping(1))
        #expect(try outbound(channel).last?.kind == .goAway)
        #expect(!channel.isActive)
    }

    @Test func pingsAreAnsweredAndSilenceTimesOut() throws {
        let (channel, session) = try makeChannel()
        try channel.writeInbound(hello())
        #expect(session.isReady)
        _ = try outbound(channel)
        try channel.writeInbound(TunnelFrame.ping(42))
        #expect(try outbound(channel) == [.pong(42)])
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try outbound(channel).first?.kind == .ping)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        guard case .goAway(let code, _) = try outbound(channel).last else {
            Issue.record("no GOAWAY after the timeout")
            return
        }
        #expect(code == .peerTimeout)
        #expect(!channel.isActive)
    }

    @Test func refusedTargetsAndStreamFloodsAreResetNotServed() throws {
        let (channel, session) = try makeChannel()
        try channel.writeInbound(hello())
        _ = try outbound(channel)
        try channel.writeInbound(TunnelFrame.open(stream: 1, target: TunnelTarget(host: "10.1.2.3", port: 22), window: 1024))
        guard case .reset(1, let code, _) = try outbound(channel).last else {
            Issue.record("no RESET for a target off the allow-list")
            return
        }
        #expect(code == .targetRefused)
        #expect(session.streams.isEmpty)
        // A stream ID that goes backwards is a protocol violation: the link closes.
        try channel.writeInbound(TunnelFrame.open(stream: 1, target: TunnelTarget(host: "a", port: 1), window: 1024))
        #expect(try outbound(channel).last?.kind == .goAway)
        #expect(!channel.isActive)
    }

    @Test func dataOnAStreamNeverOpenedClosesTheLinkUndecoded() throws {
        let (channel, session) = try makeChannel(role: .client)
        try channel.writeInbound(hello())
        _ = try outbound(channel)
        let configuration = try TunnelConfiguration.defaultEncoder()
        let encoder = try LinkEncoder(
            configuration: configuration, store: MemoryChunkStore(capacity: 1 << 20), retentionLimit: 1 << 20)
        let data = try encoder.encode(ByteBuffer(repeating: 7, count: 1000))
        try channel.writeInbound(TunnelFrame.data(stream: 9, data))
        guard case .goAway(let code, let reason) = try outbound(channel).last else {
            Issue.record("no GOAWAY for DATA on a stream never opened")
            return
        }
        #expect(code == .protocolViolation)
        #expect(reason.contains("stream 9, which was never opened"))
        #expect(!channel.isActive)
        #expect(!session.holdsResources)
    }

    @Test func aServerMayNotOpenStreams() throws {
        let (channel, _) = try makeChannel(role: .client)
        try channel.writeInbound(hello())
        try channel.writeInbound(TunnelFrame.open(stream: 3, target: TunnelTarget(host: "a", port: 1), window: 1))
        #expect(!channel.isActive)
    }

    /// On the event loop (no pool), each batch's completion starts the next batch: a flow with many batches
    /// pending must not nest them all on the stack. Past ``PeerSession/inlineDepthLimit`` a batch waits for a
    /// task of its own, and the flow still arrives whole and in order.
    @Test func manyBatchesEncodedInlineNeverNestDeeperThanTheLimit() throws {
        let configuration = try TunnelConfiguration(
            streamWindow: 8 << 20, linkBudget: 16 << 20, batchLimit: 16 << 10, maximumStreams: 2)
        let (channel, session) = try makeChannel(role: .client, configuration: configuration)
        try channel.writeInbound(hello(receiveBudget: 16 << 20))
        _ = try outbound(channel)
        // 4 MiB read while the link came up: 256 batches of 16 KiB, all within the credit granted below.
        let payload = Payload.text(2 << 20, seed: 5) + Payload.random(2 << 20, seed: 5)
        let held = stride(from: 0, to: payload.count, by: 64 << 10).map {
            ByteBuffer(bytes: payload[$0..<min(payload.count, $0 + (64 << 10))])
        }
        let local = EmbeddedChannel(loop: channel.embeddedEventLoop)
        session.open(local: local, to: TunnelTarget(host: "127.0.0.1", port: 9), held: held)
        try channel.writeInbound(TunnelFrame.windowUpdate(stream: 1, increment: 8 << 20))
        var frames = try outbound(channel)
        while true {
            channel.embeddedEventLoop.run()
            let more = try outbound(channel)
            if more.isEmpty { break }
            frames += more
        }
        #expect(session.inlineDeferrals > 0)
        let decoder = try LinkDecoder(store: MemoryChunkStore(capacity: 64 << 20))
        var received: [UInt8] = []
        for case .data(1, let data) in frames {
            var bytes = try decoder.decode(data, flow: 1)
            received += bytes.readBytes(length: bytes.readableBytes) ?? []
        }
        #expect(received.count == payload.count)
        #expect(received == payload)
        _ = try? local.finish()
        _ = try? channel.finish()
    }
}
