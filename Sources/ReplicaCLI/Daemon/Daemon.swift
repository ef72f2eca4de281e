import Logging
import Metrics
import NIOCore
import Prometheus
import ReplicaCore
import ReplicaTunnel

/// The process-wide services of a running accelerator: swift-log, swift-metrics with Prometheus, the admin
/// listener. Bootstrapped once, before the endpoint starts.
final class Daemon: Sendable {
    /// The metrics `/metrics` serves.
    let registry = PrometheusCollectorRegistry()
    /// The level every logger of this process reads; SIGHUP may change it.
    let level: SharedLogLevel
    /// The root logger.
    let logger: Logger

    init(options: DaemonOptions, quiet: Bool, label: String) {
        let level = SharedLogLevel(quiet ? .error : options.level)
        let format = options.logFormat
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format, level: level) }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = TunnelMetrics.histogramBuckets
        MetricsSystem.bootstrap(factory)
        self.level = level
        self.logger = Logger(label: label)
    }

    /// The tunnel library's line logger, writing through swift-log at `info`.
    var tunnelLogger: TunnelLogger {
        let logger = logger
        return { line in logger.info("\(line)") }
    }

    /// Starts the admin listener, with store gauges refreshed on each scrape. Everything it calls runs on the
    /// event loop: `readiness` must only read state (see ``TunnelEndpoint/problems``).
    func startAdmin(
        at address: TunnelTarget, store: any ChunkStore, resolver: TunnelTarget?, group: any EventLoopGroup,
        readiness: @escaping @Sendable () -> [String]
    ) async throws -> AdminServer {
        let gauges = StoreGauges(registry: registry)
        let dns = resolver.map { DNSCacheGauges(registry: registry, client: DNSClient(server: $0)) }
        let server = try await AdminServer.start(
            address: address, registry: registry, group: group,
            beforeScrape: { loop in
                gauges.update(from: store)
                return dns?.update(on: loop) ?? loop.makeSucceededVoidFuture()
            },
            readiness: { AdminServer.Readiness(problems: readiness()) })
        logger.info(
            "admin listener up",
            metadata: ["address": "\(server.localAddress.map(TunnelServerCommand.format) ?? address.description)"])
        return server
    }
}

/// Store figures read on each scrape.
struct StoreGauges: Sendable {
    let bytes: Prometheus.Gauge
    let capacity: Prometheus.Gauge
    let chunks: Prometheus.Gauge
    let evictedChunks: Prometheus.Gauge
    let indexBytes: Prometheus.Gauge

    init(registry: PrometheusCollectorRegistry) {
        func gauge(_ name: String, _ unit: String, _ help: String) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help))
        }
        bytes = gauge("replica_store", "bytes", "Bytes of chunk records held by the store.")
        capacity = gauge("replica_store_capacity", "bytes", "The store's capacity.")
        chunks = gauge("replica_store_chunks", "", "Chunks held by the store.")
        evictedChunks = gauge("replica_store_evicted_chunks", "", "Chunks evicted since the store was opened.")
        indexBytes = gauge("replica_store_index", "bytes", "Memory held by the store's index.")
    }

    func update(from store: any ChunkStore) {
        if let disk = store as? DiskChunkStore {
            let statistics = disk.statistics
            bytes.set(Double(statistics.liveRecordBytes))
            capacity.set(Double(statistics.capacity))
            chunks.set(Double(statistics.chunks))
            evictedChunks.set(Double(statistics.evictedChunks))
            indexBytes.set(Double(statistics.indexMemoryBytes))
        }
    }
}

/// dnsmasq's cache counters (CHAOS TXT hits.bind, misses.bind), read on each scrape; a failed read counts as an
/// error and leaves the gauges as they were.
struct DNSCacheGauges: Sendable {
    let client: DNSClient
    let hits: Prometheus.Gauge
    let misses: Prometheus.Gauge
    let errors: Prometheus.Counter

    init(registry: PrometheusCollectorRegistry, client: DNSClient) {
        self.client = client
        hits = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "replica_dns_cache_hits", unitName: "", helpText: "dnsmasq hits.bind: answered from cache.")
        )
        misses = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "replica_dns_cache_misses", unitName: "", helpText: "dnsmasq misses.bind: not in cache."))
        errors = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "replica_dns_cache_read_errors", unitName: "total",
                helpText: "Scrapes that could not read dnsmasq's counters."))
    }

    func update(on loop: any EventLoop) -> EventLoopFuture<Void> {
        DNSCacheCounters.counters(from: client, on: loop).map { counters in
            hits.set(Double(counters.hits))
            misses.set(Double(counters.misses))
        }.recover { _ in errors.increment() }
    }
}
