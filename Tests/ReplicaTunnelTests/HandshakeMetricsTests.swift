import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTunnel
import Testing

/// `replica_handshake_failures_total{reason=...}`: each way a peer connection can fail before its link comes up
/// is counted under its own reason, on real loopback sockets. Other suites run at the same time and may count
/// failures too, so each test waits for its reason's count to grow rather than for an exact value.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HandshakeMetricsTests {
    private func count(_ reason: HandshakeFailure) -> Int { TunnelMetrics.shared.handshakeFailureCount(reason) }

    @Test func aClientFromAnotherCAIsCountedAsAnUntrustedCertificate() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let target = try await AppServer.start(group: group)
        let before = count(.untrustedCertificate)
        let pair = try await TunnelPair.start(
            targetPort: target.port, group: group, clientSecurity: try TestPKI.shared.rogueClient, waitForLink: false)
        try await waitUntil { pair.log.text.contains("server: refusing") }
        try await waitUntil { count(.untrustedCertificate) > before }
        #expect(pair.log.text.contains("not trusted"), "\(pair.log.text)")
        await pair.shutdown()
        try await target.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func aPlaintextPeerIsCountedAsATLSError() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: 0), allowList: TunnelAllowList(), permissions: .anyPeer,
            configuration: TunnelConfiguration(), security: try TestPKI.shared.server, store: WipeableStore(),
            group: group)
        let before = count(.tls)
        let port = try #require(server.localAddress?.port)
        _ = try await runFlow(port: port, payload: Array("GET / HTTP/1.0\r\n\r\n".utf8), group: group, halfClose: false)
        try await waitUntil { count(.tls) > before }
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func aSilentPeerIsCountedAsATimeout() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: 0), allowList: TunnelAllowList(), permissions: .anyPeer,
            configuration: TunnelConfiguration(),
            security: try TestPKI.shared.security(as: "server", handshakeTimeout: .milliseconds(200)),
            store: WipeableStore(), group: group)
        let before = count(.timeout)
        let port = try #require(server.localAddress?.port)
        _ = try await runFlow(port: port, payload: [], group: group, halfClose: false)
        try await waitUntil { count(.timeout) > before }
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func aServerWithTheWrongNameIsCountedByTheClient() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let target = try await AppServer.start(group: group)
        let before = count(.peerName)
        let pair = try await TunnelPair.start(
            targetPort: target.port, group: group,
            clientSecurity: try TestPKI.shared.security(as: "client", expectedPeerName: "somebody-else"),
            waitForLink: false)
        try await waitUntil { count(.peerName) > before }
        #expect(await !pair.client.isConnected)
        await pair.shutdown()
        try await target.channel.close()
        try await group.shutdownGracefully()
    }

    /// Limits changed on a running server (what SIGHUP does) apply to the next connection; the link up now
    /// and its flows stay.
    @Test func admissionLimitsChangedLiveRefuseTheNextConnectionOnly() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let target = try await AppServer.start(group: group)
        let pair = try await TunnelPair.start(targetPort: target.port, group: group)
        let before = count(.admission)
        pair.server.updateAdmissionLimits(try TunnelAdmissionLimits(maximumLinks: 1, maximumLinksPerAddress: 1))
        #expect(pair.server.admissionLimits.maximumLinks == 1)
        let serverPort = try #require(pair.server.localAddress?.port)
        _ = try await runFlow(port: serverPort, payload: Array("x".utf8), group: group, halfClose: false)
        try await waitUntil { count(.admission) > before }
        #expect(pair.client.isLinkUp, "the link up before the change was dropped")
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let outcome = try await runFlow(port: pair.localPort, payload: payload, group: group)
        #expect(outcome.mismatch(payload) == nil)
        await pair.shutdown()
        try await target.channel.close()
        try await group.shutdownGracefully()
    }
}
