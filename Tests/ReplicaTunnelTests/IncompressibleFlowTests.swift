import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTunnel
import Testing

/// Incompressible flows skip compression but keep deduplication: real sockets on 127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(3))) struct IncompressibleFlowTests {
    @Test func theSameRandomFileSentTwiceCrossesAsReferencesTheSecondTime() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sink = try await AppServer.start(group: group, sink: true)
        let pair = try await TunnelPair.start(
            targetPort: sink.port, group: group, serverStore: MemoryChunkStore(capacity: 256 << 20),
            clientStore: MemoryChunkStore(capacity: 256 << 20))
        let payload = Payload.random(32 << 20, seed: 32)
        var linkBytes: [UInt64] = []
        for round in 0..<2 {
            let before = try #require(pair.client.statistics()).wireBytesSent
            let outcome = try await runFlow(port: pair.localPort, payload: payload, group: group)
            #expect(outcome == .finished(Array("received \(payload.count)".utf8)), "round \(round) \(pair.log.text)")
            linkBytes.append(try #require(pair.client.statistics()).wireBytesSent - before)
        }
        let statistics = try #require(pair.client.statistics())
        // The first time the flow is found incompressible (and skips compression); it is fingerprinted all along.
        #expect(statistics.plainBytesSent > UInt64(payload.count / 2))
        #expect(linkBytes[0] > UInt64(payload.count))
        #expect(linkBytes[1] < UInt64(payload.count / 20), "second transfer: \(linkBytes[1]) bytes on the link")
        print("IncompressibleFlowTests: link bytes \(linkBytes) for \(payload.count) bytes sent twice")
        await pair.shutdown()
        try await sink.channel.close()
        try await group.shutdownGracefully()
    }
}
