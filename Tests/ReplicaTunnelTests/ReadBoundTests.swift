import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import ReplicaCore
import Synchronization
import Testing

@testable import ReplicaTunnel

/// The two bounds on what a link reads before it can pass the bytes on, checked as counts of bytes read:
/// the peer is not read while a decode holds ``PeerSession/decodeBacklog`` behind it, and local reads not yet
/// sent count with the bytes in flight against the link budget.
///
/// The session runs on a `NIOAsyncTestingChannel` (its reads are counted where the socket would see them) with
/// a real thread pool and a `DiskChunkStore`; the store's writes wait behind a gate, which holds the encoder or
/// decoder on the pool for as long as a test needs (a slow disk).
@Suite(.serialized, .timeLimit(.minutes(2))) struct ReadBoundTests {
    @Test func thePeerIsNotReadWhileADecodeHoldsItsBacklogBehindIt() async throws {
        let rig = try await SessionRig.start(configuration: TunnelConfiguration(streamWindow: 12 << 20))
        defer { rig.store.open() }
        let local = try await rig.openLocal()
        // The server connected the stream, so it may send on it.
        try await rig.link.writeInbound(TunnelFrame.windowUpdate(stream: local.id, increment: 64 << 10))
        // The peer's side of the link: an encoder that has taught this end nothing, so every chunk is a literal.
        let peerStore = try ScratchStore(capacity: 64 << 20)
        defer { peerStore.remove() }
        let peer = try LinkEncoder(
            configuration: TunnelConfiguration.defaultEncoder(), store: peerStore.store, retentionLimit: 64 << 20)
        let payload = Payload.random(10 << 20, seed: 31)
        var frames: [TunnelFrame] = []
        for start in stride(from: 0, to: payload.count, by: 192 << 10) {
            let batch = payload[start..<min(payload.count, start + (192 << 10))]
            let data = try peer.encode(ByteBuffer(bytes: batch), flow: 1)
            #expect(!data.isPlain)
            frames.append(.data(stream: local.id, data))
        }
        let largest = frames.map(\.encodedLength).max() ?? 0

        // The first DATA frame starts a decode that waits on the store; the frames behind it are held. The socket
        // is read again after each frame, as long as the session asks for it.
        rig.store.shut()
        var delivered = 0
        var held = 0
        while delivered < frames.count {
            let reads = rig.linkReads.count
            try await rig.link.writeInbound(frames[delivered])
            if delivered > 0 { held += frames[delivered].encodedLength }
            delivered += 1
            try await rig.requestRead()
            if rig.linkReads.count == reads { break }
        }
        #expect(delivered < frames.count, "the peer was read through all \(held) held bytes")
        #expect(held >= PeerSession.decodeBacklog, "reading stopped early, at \(held) held bytes")
        #expect(held < PeerSession.decodeBacklog + largest, "\(held) bytes were held before reading stopped")
        // However often the pipeline asks, the peer stays unread while the decode runs.
        let paused = rig.linkReads.count
        for _ in 0..<3 { try await rig.requestRead() }
        #expect(rig.linkReads.count == paused)

        // Once the decode returns, the held read goes on; the rest of the frames then arrive and every byte is
        // delivered in order.
        rig.store.open()
        try await waitUntil { await rig.loopCount(rig.linkReads) > paused }
        var received: [UInt8] = []
        for frame in frames[delivered...] {
            try await rig.link.writeInbound(frame)
            received += try await local.drain()
        }
        try await waitUntil {
            received += (try? await local.drain()) ?? []
            return received.count >= payload.count
        }
        #expect(received == payload)
        try await rig.stop()
    }

    @Test func localReadsNotYetSentCountAgainstTheLinkBudget() async throws {
        let budget = 1 << 20
        let cycle = 64 << 10
        let credit = 256 << 10
        let configuration = try TunnelConfiguration(streamWindow: credit, linkBudget: budget)
        let rig = try await SessionRig.start(configuration: configuration)
        defer { rig.store.open() }
        // The first batch's encode waits on the store, so what the streams read next stays pending here.
        rig.store.shut()
        var locals: [LocalRig] = []
        for _ in 0..<32 {
            let local = try await rig.openLocal()
            locals.append(local)
            // The server connected the stream: it may send. The application always has more to send, so each read
            // the session asks for returns one read cycle at once.
            try await rig.link.writeInbound(TunnelFrame.windowUpdate(stream: local.id, increment: UInt32(credit)))
            try await serve(locals, cycle: cycle)
        }
        let read = locals.reduce(0) { $0 + $1.served * cycle }
        // One batch is with the encoder (in flight); the rest was read and waits. Together they stay within the
        // budget plus the one read cycle granted last below it.
        #expect(read <= budget + cycle, "\(read) bytes read from 32 local connections with a \(budget)-byte budget")
        #expect(read > budget - cycle, "reading stopped at \(read) bytes, below the budget")
        #expect(locals.contains { $0.reads.count == $0.served && $0.served == 0 }, "every stream was read")

        // Once the encoder moves again, what was read is sent as far as the budget goes, and nothing more is
        // read: the peer has returned no credit, so the budget is spent.
        rig.store.open()
        let sendable = min(read, budget)
        var sent = 0
        try await waitUntil {
            sent += rig.sentData((try? await rig.outbound()) ?? [])
            try? await serve(locals, cycle: cycle)
            return sent >= sendable
        }
        #expect(sent == sendable)
        #expect(locals.reduce(0) { $0 + $1.served * cycle } == read)
        try await rig.stop()
    }

    /// Answers every read the session asked for on a local connection with one read cycle of fresh bytes.
    private func serve(_ locals: [LocalRig], cycle: Int) async throws {
        var answered = true
        while answered {
            answered = false
            for local in locals where local.reads.count > local.served {
                local.served += 1
                let bytes = ByteBuffer(repeating: UInt8(truncatingIfNeeded: local.served), count: cycle)
                try await local.channel.writeInbound(bytes)
                answered = true
            }
        }
    }
}

/// A client session on a testing channel, with a real thread pool and a gated `DiskChunkStore`.
struct SessionRig {
    let loop: NIOAsyncTestingEventLoop
    let link: NIOAsyncTestingChannel
    let session: NIOLoopBound<PeerSession>
    let linkReads: ReadRequests
    let pool: NIOThreadPool
    let store: GatedStore

    static func start(configuration: TunnelConfiguration) async throws -> SessionRig {
        let loop = NIOAsyncTestingEventLoop()
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let store = try GatedStore()
        let reads = ReadRequests()
        let link = try await NIOAsyncTestingChannel(loop: loop) { channel in
            let session = try PeerSession(
                role: .client, configuration: configuration, store: store, peerName: "peer", offload: pool,
                logger: { _ in })
            try channel.pipeline.syncOperations.addHandlers([reads, session])
        }
        let session = try await loop.executeInContext {
            NIOLoopBound(try link.pipeline.syncOperations.handler(type: PeerSession.self), eventLoop: loop)
        }
        try await link.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        let hello = TunnelHello(
            capabilities: [.chunkRecovery], storeID: .random(), frameLimit: UInt32(configuration.frameLimit),
            receiveBudget: UInt32(configuration.linkBudget))
        try await link.writeInbound(TunnelFrame.hello(hello))
        let rig = SessionRig(loop: loop, link: link, session: session, linkReads: reads, pool: pool, store: store)
        _ = try await rig.outbound()
        #expect(try await loop.executeInContext { session.value.isReady })
        return rig
    }

    /// Opens a stream for a new local connection and returns it with the stream's ID.
    func openLocal() async throws -> LocalRig {
        let reads = ReadRequests()
        let channel = try await NIOAsyncTestingChannel(loop: loop) { try $0.pipeline.syncOperations.addHandler(reads) }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).get()
        let session = self.session
        try await loop.executeInContext {
            session.value.open(local: channel, to: TunnelTarget(host: "127.0.0.1", port: 9))
        }
        guard case .open(let id, _, _) = try await outbound().last else {
            throw TunnelError(.protocolViolation, "the session sent no OPEN")
        }
        return LocalRig(id: id, channel: channel, reads: reads)
    }

    /// Asks the pipeline for a read, as the channel does after each read completes.
    func requestRead() async throws {
        let link = self.link
        try await loop.executeInContext { link.pipeline.syncOperations.read() }
    }

    /// A read count taken on the loop, after the tasks queued there have run.
    func loopCount(_ reads: ReadRequests) async -> Int {
        await loop.run()
        return reads.count
    }

    /// The frames the session has written since the last call.
    func outbound() async throws -> [TunnelFrame] {
        var frames: [TunnelFrame] = []
        while let frame = try await link.readOutbound(as: TunnelFrame.self) { frames.append(frame) }
        return frames
    }

    /// The decoded bytes of the DATA frames among `frames`.
    func sentData(_ frames: [TunnelFrame]) -> Int {
        frames.reduce(0) { sum, frame in
            if case .data(_, let data) = frame { sum + Int(data.decodedLength) } else { sum }
        }
    }

    func stop() async throws {
        store.open()
        _ = try await link.finish(acceptAlreadyClosed: true)
        try await pool.shutdownGracefully()
        store.scratch.remove()
        await loop.shutdownGracefully()
    }
}

/// A local connection of a ``SessionRig``: its stream, its channel, the reads asked of it and how many of them
/// the test answered.
final class LocalRig: @unchecked Sendable {
    let id: UInt32
    let channel: NIOAsyncTestingChannel
    let reads: ReadRequests
    var served = 0

    init(id: UInt32, channel: NIOAsyncTestingChannel, reads: ReadRequests) {
        self.id = id
        self.channel = channel
        self.reads = reads
    }

    /// The bytes the session has written to the application since the last call.
    func drain() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        while var buffer = try await channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        return bytes
    }
}

/// Counts the reads that reach the front of a pipeline: what the socket would be asked to read.
final class ReadRequests: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = Any
    private let requested = Mutex(0)

    var count: Int { requested.withLock { $0 } }

    func read(context: ChannelHandlerContext) {
        requested.withLock { $0 += 1 }
        context.read()
    }
}

/// A `DiskChunkStore` whose writes wait while its gate is shut: an encoder or decoder held on a slow disk.
final class GatedStore: ChunkStore, Sendable {
    let scratch: ScratchStore
    private let isShut = Mutex(false)

    init() throws { scratch = try ScratchStore(capacity: 64 << 20) }

    func shut() { isShut.withLock { $0 = true } }
    func open() { isShut.withLock { $0 = false } }

    var storeID: StoreID { scratch.store.storeID }
    var capacity: Int { scratch.store.capacity }
    var storedBytes: Int { scratch.store.storedBytes }
    var count: Int { scratch.store.count }
    func contains(_ fingerprint: Fingerprint) -> Bool { scratch.store.contains(fingerprint) }
    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? { try scratch.store.get(fingerprint) }
    func successor(of fingerprint: Fingerprint) -> Fingerprint? { scratch.store.successor(of: fingerprint) }
    func remove(_ fingerprint: Fingerprint) throws(ChunkStoreError) { try scratch.store.remove(fingerprint) }

    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        while isShut.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.001) }
        try scratch.store.put(bytes, as: fingerprint)
    }
}

extension TunnelFrame {
    /// The encoded bytes of a DATA frame's payload (what the decode backlog counts); 0 for other frames.
    fileprivate var encodedLength: Int {
        if case .data(_, let data) = self { data.encoded.readableBytes } else { 0 }
    }
}
