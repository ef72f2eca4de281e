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
    /// streams 1, 3, ... with `held` bytes each, granted `credit` each.
    func client(
        receiveBudget: UInt32 = 1 << 20, held: [[UInt8]], credit: UInt32, store: MemoryChunkStore
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
}
