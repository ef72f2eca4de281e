import NIOCore
import NIOPosix
import Prometheus
import ReplicaTunnel
import Synchronization
import Testing

/// The admin listener over a real loopback socket, read back with ``AdminClient``.
@Suite("admin listener")
struct AdminServerTests {
    @Test("/metrics, /healthz, /readyz and an unknown path")
    func routes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = PrometheusCollectorRegistry()
        let counter = registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "replica_test", unitName: "total", helpText: "a test"),
            labels: [("direction", "sent")])
        counter.increment(by: Int64(42))
        let problems = Mutex<[String]>(["the link is down"])
        let scrapes = Mutex(0)
        let server = try await AdminServer.start(
            address: TunnelTarget(host: "127.0.0.1", port: 0), registry: registry, group: group,
            beforeScrape: { scrapes.withLock { $0 += 1 } },
            readiness: { AdminServer.Readiness(problems: problems.withLock { $0 }) })
        let address = TunnelTarget(host: "127.0.0.1", port: try #require(server.localAddress?.port))

        let metrics = try await AdminClient.get("/metrics", from: address, group: group)
        #expect(metrics.status == 200)
        let samples = MetricsSample.parse(metrics.body)
        #expect(samples.total("replica_test_total", ["direction": "sent"]) == 42)
        #expect(scrapes.withLock { $0 } == 1)
        #expect(try await AdminClient.get("/healthz", from: address, group: group).status == 200)
        let notReady = try await AdminClient.get("/readyz", from: address, group: group)
        #expect(notReady.status == 503 && notReady.body == "the link is down\n")
        problems.withLock { $0 = [] }
        #expect(try await AdminClient.get("/readyz", from: address, group: group).status == 200)
        #expect(try await AdminClient.get("/nope", from: address, group: group).status == 404)

        await server.shutdown()
        try await group.shutdownGracefully()
    }

    @Test(
        "text-format samples parse with labels; comments and junk are skipped",
        arguments: [
            ("replica_links 3", MetricsSample(name: "replica_links", value: 3)),
            (
                #"replica_link_bytes_total{direction="sent",peer="a"} 1.5e3"#,
                MetricsSample(
                    name: "replica_link_bytes_total", labels: ["direction": "sent", "peer": "a"], value: 1500)
            ),
        ])
    func parse(line: String, expected: MetricsSample) {
        #expect(MetricsSample.parse("# HELP x y\n# TYPE x counter\n\(line)\nnot a sample\n") == [expected])
    }
}
