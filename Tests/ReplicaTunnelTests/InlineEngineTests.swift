import NIOCore
import NIOEmbedded
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// The engine on the event loop (no pool, as with a memory store): each job's completion runs inside the call that
/// started it, before that call returns. The hard cases of that nesting, on an `EmbeddedChannel`.
@Suite struct InlineEngineTests {
    let fixture = PeerSessionTests()

    /// A client session whose peer (this test) said hello with `receiveBudget`, and local connections opened on
    /// streams 1, 3, ... with `held` bytes each, granted `credit` each (none yet: `nil`).
    func client(
        receiveBudget: UInt32 = 1 << 20, held: [[UInt8]], credit: UInt32?,
        store: MemoryChunkStore = MemoryChunkStore(capacity: 64 << 20)
    ) throws -> (EmbeddedChannel, PeerSession, [EmbeddedChannel]) {
        let configuration = try TunnelConfiguration(
            streamWindow: 1 << 20, linkBudget: 16 << 20, batchLimit: 16 << 10, maximumStreams: 4)
        let (channel, session) = try fixture.makeChannel(role: .client, configuration: configuration, store: store)
        try channel.writeInbound(fixture.hello(receiveBudget: receiveBudget))
        var locals: [EmbeddedChannel] = []
        for bytes in held {
            let local = EmbeddedChannel(loop: channel.embeddedEventLoop)
            session.open(
                local: local, to: TunnelTarget(host: "127.0.0.1", port: 9), held: bytes.isEmpty ? [] : [ByteBuffer(bytes: bytes)])
            locals.append(local)
        }
        for id in session.streams.keys.sorted() {
            guard let credit else { break }
            try channel.writeInbound(TunnelFrame.windowUpdate(stream: id, increment: credit))
        }
        channel.embeddedEventLoop.run()
        return (channel, session, locals)
    }

    func sentBytes(_ frames: [TunnelFrame]) -> Int {
        frames.reduce(0) { total, frame in
            if case .data(_, let data) = frame { total + Int(data.decodedLength) } else { total }
        }
    }

    /// Closing a link releases the link budget its streams held. A flow that waited for that budget must not take
    /// it on the way out: inline, its batches would be encoded (their chunks stored, and noted as held by the peer)
    /// and counted as sent, on a link that is gone.
    @Test func aClosingLinkEncodesNothingMore() throws {
        let store = MemoryChunkStore(capacity: 64 << 20)
        // The peer's budget (64 KiB) goes to the first stream; the second waits for it.
        let (channel, session, _) = try client(
            receiveBudget: 64 << 10, held: [Payload.random(256 << 10, seed: 1), Payload.random(256 << 10, seed: 2)],
            credit: 1 << 20, store: store)
        let sent = sentBytes(try fixture.outbound(channel))
        #expect(sent == 64 << 10)
        #expect(session.statistics.snapshot.applicationBytesSent == UInt64(sent))
        let chunks = store.count
        try channel.close().wait()
        channel.embeddedEventLoop.run()
        #expect(session.statistics.snapshot.applicationBytesSent == UInt64(sent))
        #expect(store.count == chunks)
        #expect(!session.holdsResources)
    }

    /// The peer's encoder (this test's), whose store holds `known` and which believes the session's store holds
    /// them too: DATA it encodes from them references chunks the session must ask for.
    func peerEncoder(knowing known: [[UInt8]]) throws -> LinkEncoder {
        let configuration = try TunnelConfiguration().encoder
        let store = MemoryChunkStore(capacity: 64 << 20)
        let knowledge = PeerKnowledge(capacity: 1 << 16)
        let teacher = try LinkEncoder(configuration: configuration, store: store, retentionLimit: 1 << 20)
        teacher.setPeer(knowledge)
        for bytes in known { _ = try teacher.encode(ByteBuffer(bytes: bytes)) }
        let encoder = try LinkEncoder(configuration: configuration, store: store, retentionLimit: 16 << 20)
        encoder.setPeer(knowledge)
        return encoder
    }

    func delivered(_ local: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while var buffer = try local.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        return bytes
    }

    /// DATA on two streams, the first two frames each missing chunks: everything behind a miss waits, a miss found
    /// while the held frames are replayed (inside the reply that released them) holds the rest again in order, and
    /// each stream gets its bytes once, whole and in order, with its credit returned exactly once.
    @Test func missesFoundWhileReplayingHoldTheRestInOrder() throws {
        let store = MemoryChunkStore(capacity: 64 << 20)
        let (channel, session, locals) = try client(held: [[], []], credit: 1 << 20, store: store)
        _ = try fixture.outbound(channel)
        let known = [Payload.random(96 << 10, seed: 11), Payload.random(96 << 10, seed: 12)]
        let fresh = [Payload.text(40 << 10, seed: 13), Payload.random(40 << 10, seed: 14)]
        let peer = try peerEncoder(knowing: known)
        let frames: [TunnelFrame] = [
            .data(stream: 1, try peer.encode(ByteBuffer(bytes: known[0]), flow: 1)),
            .data(stream: 3, try peer.encode(ByteBuffer(bytes: known[1]), flow: 3)),
            .data(stream: 1, try peer.encode(ByteBuffer(bytes: fresh[0]), flow: 1)),
            .halfClose(stream: 1),
            .data(stream: 3, try peer.encode(ByteBuffer(bytes: fresh[1]), flow: 3)),
        ]
        var requests: [[Fingerprint]] = []
        var credit: [UInt32: Int] = [:]
        var others: [TunnelFrame] = []
        func take() throws {
            for frame in try fixture.outbound(channel) {
                switch frame {
                case .chunkRequest(let fingerprints): requests.append(fingerprints)
                case .windowUpdate(let id, let increment): credit[id, default: 0] += Int(increment)
                default: others.append(frame)
                }
            }
        }
        for frame in frames { try channel.writeInbound(frame) }
        try take()
        #expect(requests.count == 1)
        #expect(try delivered(locals[0]).isEmpty)
        // Replies one frame at a time: only the last releases the held frames.
        for (index, round) in [0, 1].enumerated() {
            let asked = try #require(requests.count > index ? requests[index] : nil, "no request \(round + 1)")
            #expect(!asked.isEmpty)
            for fingerprint in asked {
                try channel.writeInbound(TunnelFrame.chunkReply(fingerprint, peer.answer(fingerprint)))
                try take()
            }
        }
        #expect(requests.count == 2)
        #expect(try delivered(locals[0]) == known[0] + fresh[0])
        #expect(try delivered(locals[1]) == known[1] + fresh[1])
        #expect(credit[1] == known[0].count + fresh[0].count)
        #expect(credit[3] == known[1].count + fresh[1].count)
        // The peer's HALF_CLOSE reached stream 1 after its DATA (the embedded local connection then closes, and
        // the stream ends cleanly); stream 3 stays open.
        #expect(others == [.halfClose(stream: 1)])
        #expect(session.streams.keys.sorted() == [3])
        #expect(session.statistics.snapshot.chunkMisses == UInt64(requests.joined().count))
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    /// A batch that waits for a task of its own (past ``PeerSession/inlineDepthLimit``) while the peer resets its
    /// stream: once the batch is done, the encoder keeps no chunker state for the ended flow (it would stay for the
    /// link's life, its bytes counted against the carried-byte bound of every other flow).
    @Test func aFlowResetWhileItsBatchWaitsKeepsNoEncoderState() throws {
        let (channel, session, _) = try client(
            receiveBudget: 16 << 20, held: [Payload.random(1 << 20, seed: 21)], credit: nil)
        try channel.writeInbound(TunnelFrame.windowUpdate(stream: 1, increment: 8 << 20))
        #expect(session.inlineDeferrals == 1)
        try channel.writeInbound(TunnelFrame.reset(stream: 1, code: .linkClosed, reason: "gone"))
        #expect(session.streams.isEmpty)
        channel.embeddedEventLoop.run()
        let engine = try #require(session.engine)
        #expect(!engine.encoder.hasUndecidedBytes(1))
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    /// Two bulk flows share a link budget smaller than their data; the peer returns credit for each DATA frame as
    /// it arrives (it writes everything at once). Inline, no batch is ever in flight when credit returns, so the
    /// flows must still take turns: the one that waited for budget is not passed over while the other has data.
    @Test func flowsWaitingForLinkBudgetTakeTurns() throws {
        let (channel, _, _) = try client(
            receiveBudget: 64 << 10, held: [Payload.random(1 << 20, seed: 31), Payload.random(1 << 20, seed: 32)],
            credit: 8 << 20)
        var sent: [UInt32: Int] = [:]
        // Until 1 MiB went out, half of what the two flows hold.
        while sent.values.reduce(0, +) < 1 << 20 {
            let frames = try fixture.outbound(channel)
            try #require(!frames.isEmpty)
            for case .data(let id, let data) in frames {
                sent[id, default: 0] += Int(data.decodedLength)
                try channel.writeInbound(TunnelFrame.windowUpdate(stream: id, increment: data.decodedLength))
            }
            channel.embeddedEventLoop.run()
        }
        let (first, second) = (sent[1] ?? 0, sent[3] ?? 0)
        #expect(min(first, second) >= (first + second) / 4, "stream 1 sent \(first) bytes, stream 3 \(second)")
        _ = try? channel.finish()
    }
}
