import ReplicaTunnel
import Testing

@Suite struct TunnelProtocolTests {
    @Test func versionIsOne() { #expect(TunnelProtocol.version == 1) }
}
