import Dispatch
import NIOCore
import NIOPosix
import Prometheus
import ReplicaTunnel
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
            beforeScrape: { loop in
                scrapes.withLock { $0 += 1 }
                return loop.makeSucceededVoidFuture()
            },
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

    /// The probes answer on the event loop: with every thread of the concurrency pool blocked (this test's own
    /// among them), /healthz, /readyz and /metrics still answer. An answer that needed the pool would never come,
    /// and the request's deadline would fail the test instead of hanging it.
    @Test("probes answer while the concurrency pool is blocked")
    func answersWithABlockedPool() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "replica_test_gauge", unitName: "", helpText: "a test")
        ).set(Double(7))
        let server = try await AdminServer.start(
            address: TunnelTarget(host: "127.0.0.1", port: 0), registry: registry, group: group,
            readiness: { AdminServer.Readiness(problems: []) })
        let port = try #require(server.localAddress?.port)
        let blockers = PoolBlockers(count: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1)
        blockers.start()
        // This thread blocks too (on NIO futures), so no pool thread is left for the admin listener.
        let answers = ["/healthz", "/readyz", "/metrics"].map { path in
            Result { try RawHTTP.get(path, port: port, group: group, deadline: .seconds(10)) }
        }
        blockers.release()
        for answer in answers {
            let (status, body) = try answer.get()
            #expect(status.hasPrefix("HTTP/1.1 200"), "\(status)")
            #expect(!body.isEmpty)
        }
        #expect(try answers[2].get().body.contains("replica_test_gauge 7"))
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

/// Tasks that each block a thread of the concurrency pool until released.
final class PoolBlockers: Sendable {
    let count: Int
    private let started = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)

    init(count: Int) { self.count = max(0, count) }

    /// Starts the blockers and returns once every one of them holds its thread.
    func start() {
        for _ in 0..<count {
            Task.detached {
                self.started.signal()
                self.gate.wait()
            }
        }
        for _ in 0..<count { started.wait() }
    }

    func release() { for _ in 0..<count { gate.signal() } }
}

/// A blocking HTTP/1.1 GET over NIO futures: no Swift concurrency involved.
enum RawHTTP {
    /// The status line and the body of `GET path`, or a timeout error past `deadline`.
    static func get(
        _ path: String, port: Int, group: any EventLoopGroup, deadline: TimeAmount
    ) throws -> (status: String, body: String) {
        let loop = group.next()
        let response = loop.makePromise(of: String.self)
        let timer = loop.scheduleTask(in: deadline) {
            response.fail(TunnelError(.peerTimeout, "no answer to \(path) within \(deadline)"))
        }
        response.futureResult.whenComplete { _ in timer.cancel() }
        let channel = try ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: response))
                }
            }
            .connect(host: "127.0.0.1", port: port).wait()
        var request = channel.allocator.buffer(capacity: 128)
        request.writeString("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        try channel.writeAndFlush(request).wait()
        let text: String
        do {
            text = try response.futureResult.wait()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        let parts = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        let status = String(parts.first?.split(separator: "\r\n").first ?? "")
        return (status, parts.count > 1 ? String(parts[1]) : "")
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private var text = ""
        private let promise: EventLoopPromise<String>
        init(promise: EventLoopPromise<String>) { self.promise = promise }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        func channelInactive(context: ChannelHandlerContext) { promise.succeed(text) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
