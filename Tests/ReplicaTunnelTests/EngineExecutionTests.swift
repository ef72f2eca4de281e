import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTestSupport
import ReplicaTunnel
import Synchronization
import Testing

/// Where a link runs its encoder and decoder (``TunnelEngineExecution``), seen from the store: which threads call
/// it. Real sockets on 127.0.0.1, mutual TLS, both directions of a link, the payload echoed intact.
@Suite(.serialized, .timeLimit(.minutes(3))) struct EngineExecutionTests {
    /// New and repeated segments (references), then text (compressed): every path of the encoder and decoder.
    static let payload = TestCorpus.redundant(6 << 20, uniqueFraction: 0.3, seed: 61) + TestCorpus.text(2 << 20, seed: 62)

    /// Echoes ``payload`` twice through a tunnel whose ends keep their chunks in real stores (a
    /// `DiskChunkStore` when `blocking`, else a `MemoryChunkStore`), each seen through a `ThreadRecordingStore`;
    /// returns the client's and the server's.
    private func echo(
        blocking: Bool, execution: TunnelEngineExecution
    ) async throws -> (client: ThreadRecordingStore, server: ThreadRecordingStore) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let echo = try await AppServer.start(group: group)
        let scratch = blocking ? try [ScratchStore(capacity: 64 << 20), ScratchStore(capacity: 64 << 20)] : []
        defer { for store in scratch { store.remove() } }
        func store(_ end: Int) -> any ChunkStore {
            blocking ? scratch[end].store : MemoryChunkStore(capacity: 64 << 20)
        }
        let stores = (client: ThreadRecordingStore(store(0)), server: ThreadRecordingStore(store(1)))
        let pair = try await TunnelPair.start(
            targetPort: echo.port, group: group, serverStore: stores.server, clientStore: stores.client,
            configuration: TunnelConfiguration(engineExecution: execution))
        for round in 0..<2 {
            let outcome = try await runFlow(port: pair.localPort, payload: Self.payload, group: group)
            #expect(outcome.mismatch(Self.payload) == nil, "round \(round): \(outcome) \(pair.log.text)")
        }
        await pair.shutdown()
        try await echo.channel.close()
        try await group.shutdownGracefully()
        return stores
    }

    /// A store that declares whether it blocks, the setting, and where its calls then come from.
    struct Case: Sendable, CustomTestStringConvertible {
        let blocking: Bool
        let execution: TunnelEngineExecution
        let fromEventLoops: Bool
        var testDescription: String {
            "\(blocking ? "a disk store" : "a memory store"), \(execution): "
                + (fromEventLoops ? "called from the event loops" : "never called from an event loop")
        }
    }

    @Test(arguments: [
        // The default: the memory store is called right where the link runs, saving two hops per batch.
        Case(blocking: false, execution: .automatic, fromEventLoops: true),
        // A store that may block is never called from an event loop, whatever the setting.
        Case(blocking: true, execution: .automatic, fromEventLoops: false),
        Case(blocking: true, execution: .threadPool, fromEventLoops: false),
        Case(blocking: false, execution: .threadPool, fromEventLoops: false),
    ])
    func theStoreIsCalledFromTheThreadsTheSettingNames(_ setting: Case) async throws {
        let (client, server) = try await echo(blocking: setting.blocking, execution: setting.execution)
        for (end, store) in [("client", client), ("server", server)] {
            let calls = store.calls
            let (expected, unexpected) =
                setting.fromEventLoops ? (calls.fromEventLoops, calls.fromOtherThreads) : (calls.fromOtherThreads, calls.fromEventLoops)
            #expect(expected > 100, "\(end): \(calls)")
            #expect(unexpected == 0, "\(end): \(calls)")
        }
    }

    @Test func storesSayWhetherTheyBlock() throws {
        let scratch = try ScratchStore(capacity: 1 << 20)
        defer { scratch.remove() }
        #expect(MemoryChunkStore(capacity: 1 << 20).performsBlockingIO == false)
        #expect(scratch.store.performsBlockingIO == true)
        // A store that does not say is assumed to block.
        #expect(WipeableStore().performsBlockingIO == true)
        #expect(try TunnelConfiguration().engineExecution == .automatic)
        #expect(TunnelEngineExecution.automatic.usesThreadPool(with: scratch.store))
        #expect(!TunnelEngineExecution.automatic.usesThreadPool(with: MemoryChunkStore(capacity: 1 << 20)))
        #expect(TunnelEngineExecution.threadPool.usesThreadPool(with: MemoryChunkStore(capacity: 1 << 20)))
    }
}

/// A real store seen through a recorder: every call is passed on, and counted as made from an event-loop thread or
/// from another thread.
private final class ThreadRecordingStore: ChunkStore, Sendable {
    struct Calls: CustomStringConvertible {
        var fromEventLoops = 0
        var fromOtherThreads = 0
        var description: String { "\(fromEventLoops) calls from event loops, \(fromOtherThreads) from other threads" }
    }

    private let store: any ChunkStore
    private let counts = Mutex(Calls())

    init(_ store: any ChunkStore) { self.store = store }

    var calls: Calls { counts.withLock { $0 } }

    private func record() {
        let onEventLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        counts.withLock { onEventLoop ? ($0.fromEventLoops += 1) : ($0.fromOtherThreads += 1) }
    }

    var performsBlockingIO: Bool { store.performsBlockingIO }
    var storeID: StoreID { store.storeID }
    var capacity: Int { store.capacity }
    var storedBytes: Int { store.storedBytes }
    var count: Int { store.count }

    func contains(_ fingerprint: Fingerprint) -> Bool {
        record()
        return store.contains(fingerprint)
    }

    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? {
        record()
        return try store.get(fingerprint)
    }

    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        record()
        try store.put(bytes, as: fingerprint)
    }

    func put(_ bytes: [UInt8], as fingerprint: Fingerprint) throws(ChunkStoreError) {
        record()
        try store.put(bytes, as: fingerprint)
    }

    func remove(_ fingerprint: Fingerprint) throws(ChunkStoreError) {
        record()
        try store.remove(fingerprint)
    }

    func successor(of fingerprint: Fingerprint) -> Fingerprint? {
        record()
        return store.successor(of: fingerprint)
    }
}
