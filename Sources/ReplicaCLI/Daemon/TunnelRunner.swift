import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTunnel
import ServiceLifecycle
import Synchronization

/// Runs an endpoint as a swift-service-lifecycle `ServiceGroup` until SIGTERM or SIGINT, then shuts it down in
/// order: the endpoint stops accepting and drains its flows (up to `--drain-timeout`), the admin listener closes,
/// and the store is flushed and closed. A second signal exits at once. SIGHUP reloads the config file.
enum TunnelRunner {
    static func run(
        role: DaemonRole, store: any ChunkStore, engine: TunnelEngineOptions, daemon: DaemonOptions, runtime: Daemon,
        start: @escaping @Sendable (MultiThreadedEventLoopGroup) async throws -> TunnelEndpoint
    ) throws {
        HeapTuning.apply(environment: ProcessInfo.processInfo.environment)
        if let cap = daemon.memoryCap {
            let budgets = engine.budgets(memoryCap: cap)
            let capacity = (store as? DiskChunkStore)?.statistics.capacity ?? budgets.memoryStoreCapacity
            runtime.logger.info(
                "memory cap",
                metadata: [
                    "bytes": "\(cap)", "link_budget": "\(budgets.linkBudget)", "stream_window": "\(budgets.streamWindow)",
                    "streams": "\(budgets.maximumStreams)", "window": "\(budgets.windowSize)",
                    "decoder_limit": "\(budgets.decoderMemoryLimit)", "reply_queue": "\(budgets.controlQueueBytes)",
                    "miss_queue": "\(budgets.missQueueBytes)", "known_chunks": "\(budgets.knownChunksPerPeer)",
                    "store_capacity": "\(capacity)",
                ])
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)  // links spread over the loops
        let outcome = Mutex<(any Error)?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Task {
            do {
                // The admin listener binds first: if its address is taken, the process stops before the endpoint
                // has dialled or listened, with nothing of it left running. Until the endpoint is up, /readyz
                // answers that it is starting.
                let started = Mutex<TunnelEndpoint?>(nil)
                var admin: AdminServer?
                if let address = daemon.adminAddress(role) {
                    do {
                        admin = try await runtime.startAdmin(
                            at: address, store: store, resolver: daemon.resolverAddress, group: group,
                            readiness: {
                                guard let endpoint = started.withLock({ $0 }) else { return ["starting"] }
                                return endpoint.problems()
                            })
                    } catch {
                        throw AdminListenError(address: address, role: role, cause: error)
                    }
                }
                let endpoint: TunnelEndpoint
                do {
                    endpoint = try await start(group)
                } catch {
                    await admin?.shutdown()
                    throw error
                }
                started.withLock { $0 = endpoint }
                var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
                    .init(service: StoreService(store: store, logger: runtime.logger))
                ]
                if let admin { services.append(.init(service: ShutdownService { await admin.shutdown() })) }
                if engine.statsInterval > 0 {
                    let printer = StatisticsPrinter(
                        endpoint: endpoint, interval: engine.statsInterval, runtime: runtime)
                    services.append(.init(service: printer))
                }
                // Last in the list, first to stop.
                services.append(
                    .init(
                        service: ShutdownService {
                            runtime.logger.notice("stopping: draining open flows")
                            await endpoint.shutdown()
                        }))
                var configuration = ServiceGroupConfiguration(services: services, logger: runtime.logger)
                configuration.logging.keys = .init()
                let serviceGroup = ServiceGroup(configuration: configuration)
                SignalWatcher.onGracefulStop { _ in Task { await serviceGroup.triggerGracefulShutdown() } }
                if daemon.config != nil {
                    SignalWatcher.onReload { Task { await ConfigReload.run(endpoint: endpoint, runtime: runtime) } }
                }
                try await serviceGroup.run()
            } catch {
                outcome.withLock { $0 = error }
            }
            finished.signal()
        }
        finished.wait()
        try? group.syncShutdownGracefully()
        if let error = outcome.withLock({ $0 }) { throw error }
    }
}

/// The admin listener could not bind: one line naming the address, the cause and the flag that changes it.
struct AdminListenError: Error, CustomStringConvertible {
    let address: TunnelTarget
    let role: DaemonRole
    let cause: any Error

    var description: String {
        let reason = (cause as? IOError).map { FileError(path: "bind", errno: $0.errnoCode).message } ?? "\(cause)"
        return "cannot serve the admin listener on \(address): \(reason); choose another address with "
            + "--admin HOST:PORT (the \(role) default is \(role.defaultAdmin)) or switch it off with --admin off"
    }
}

/// A service that does nothing until graceful shutdown, then runs `stop`.
struct ShutdownService: Service {
    let stop: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }
}

/// Holds the store open for the group's life; at shutdown, after the endpoint has drained, flushes and closes it.
struct StoreService: Service {
    let store: any ChunkStore
    let logger: Logger
    /// How often a disk store's written bytes are synced while the daemon runs. The store syncs by itself only
    /// when a write comes (every 8 MiB, or a second after the last sync), so without this the tail of a burst
    /// would wait for the next write or for shutdown; with it, nothing acknowledged stays unsynced for much
    /// longer than a second. Syncing is a no-op when nothing is pending, and runs on NIO's thread pool, never on
    /// the cooperative pool.
    static let syncInterval = Duration.seconds(1)

    func run() async throws {
        guard let disk = store as? DiskChunkStore else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.syncInterval) }
            } catch {
                break
            }
            do {
                try await NIOThreadPool.singleton.runIfActive { try disk.flush() }
            } catch {
                logger.error("store sync failed", metadata: ["error": "\(error)"])
            }
        }
        do {
            try disk.close()
            logger.info("store flushed and closed")
        } catch {
            logger.error("store close failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}

/// Logs the counters of every link every `interval` seconds until shutdown.
struct StatisticsPrinter: Service {
    let endpoint: TunnelEndpoint
    let interval: Double
    let runtime: Daemon

    func run() async throws {
        let logger = runtime.tunnelLogger
        let pause = Duration.nanoseconds(Int64(interval * 1e9))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            let all = endpoint.statistics()
            if all.isEmpty { logger("stats: no link") }
            for (index, statistics) in all.enumerated() { logger("stats peer \(index): \(statistics)") }
        }
    }
}
