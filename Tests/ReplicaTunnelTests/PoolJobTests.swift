import NIOCore
import NIOEmbedded
import NIOPosix
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// On the thread pool (a `DiskChunkStore`), one engine job carries several DATA frames: an encode job takes up to
/// ``PeerSession/batchesPerEncodeJob`` batches of a flow, a decode job the DATA frames held behind the previous one
/// (up to ``PeerSession/framesPerDecodeJob``), so the two thread hops of a job are paid once per several frames.
/// Checked by counting jobs and frames, with every byte compared; never by timing.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PoolJobTests {
    @Test func oneDecodeJobTakesTheDataFramesHeldBehindTheLastOneInOrderAcrossFlows() async throws {
        let flows = try await TwoFlows.start()
        defer { flows.rig.store.open() }
        // Thirteen frames, alternating between the two flows: the first holds the decoder on the store's gate,
        // the twelve behind it are held, then decoded 8 and 4 to a job.
        let frames = try (0..<13).map {
            try flows.data(Payload.random(150 << 10, seed: 700 + UInt64($0)), flow: $0 % 2)
        }
        flows.rig.store.shut()
        for frame in frames { try await flows.rig.link.writeInbound(frame) }
        flows.rig.store.open()
        try await flows.receiveAll()
        let jobs = try await flows.rig.poolJobs()
        #expect(jobs.decodeJobs == 3, "\(jobs)")
        #expect(jobs.decodeJobFrames == 13, "\(jobs)")
        try await flows.stop()
    }

    @Test func aMissInTheMiddleOfADecodeJobHoldsThatFrameAndTheOnesBehindIt() async throws {
        let flows = try await TwoFlows.start()
        let rig = flows.rig
        defer { rig.store.open() }
        // A first frame teaches the rig some chunks; the rig then loses them (a store that evicted them).
        let repeated = Payload.random(256 << 10, seed: 801)
        try await rig.link.writeInbound(try flows.data(repeated, flow: 0))
        try await flows.receiveAll()
        // Six frames: the first holds the decoder; of the five behind it (one job), the third refers to the lost
        // chunks and misses. The two before it are delivered; it and the two behind it wait for the chunks.
        let frames = try (0..<6).map {
            try flows.data($0 == 3 ? repeated : Payload.random(100 << 10, seed: 810 + UInt64($0)), flow: $0 % 2)
        }
        guard case .data(_, let missing) = frames[3] else { throw TunnelError(.protocolViolation, "not DATA") }
        #expect(!missing.references.isEmpty)
        for fingerprint in missing.references { try rig.store.scratch.store.remove(fingerprint) }
        _ = try await rig.outbound()
        rig.store.shut()
        for frame in frames { try await rig.link.writeInbound(frame) }
        rig.store.open()
        // The rig asks for the chunks; the peer answers from its store.
        var asked: [Fingerprint] = []
        try await waitUntil {
            for frame in (try? await rig.outbound()) ?? [] {
                if case .chunkRequest(let fingerprints) = frame { asked += fingerprints }
            }
            return !asked.isEmpty
        }
        // Before the reply, only what came before the miss has arrived, on each flow.
        for flow in 0..<2 { flows.received[flow] += try await flows.locals[flow].drain() }
        #expect(flows.received[0].count == repeated.count + 2 * (100 << 10), "flow 0 got \(flows.received[0].count)")
        #expect(flows.received[1].count == 100 << 10, "flow 1 got \(flows.received[1].count)")
        for fingerprint in asked {
            let bytes = try flows.peerStore.store.get(fingerprint)
            try await rig.link.writeInbound(TunnelFrame.chunkReply(fingerprint, bytes))
        }
        try await flows.receiveAll()
        // The first frame alone, the blocked one alone, five frames (stopped by the miss), the three held ones.
        let jobs = try await rig.poolJobs()
        #expect(jobs.decodeJobs == 4, "\(jobs)")
        #expect(jobs.decodeJobFrames == 10, "\(jobs)")
        try await flows.stop()
    }

    @Test func oneEncodeJobTakesSeveralBatchesOfAFlowReadAheadWhileThePreviousRan() async throws {
        let rig = try await SessionRig.start(configuration: TunnelConfiguration(streamWindow: 8 << 20))
        defer { rig.store.open() }
        let local = try await rig.openLocal()
        try await rig.link.writeInbound(TunnelFrame.windowUpdate(stream: local.id, increment: 8 << 20))
        let cycle = 192 << 10
        let perRound = (1 + PeerSession.batchesPerEncodeJob) * cycle
        let rounds = 4
        let payload = Payload.random(rounds * perRound, seed: 901)
        var served = 0
        /// Answers each read the session asked for with the payload's next read cycle.
        func serve() async throws {
            while local.reads.count > local.served, served < payload.count {
                local.served += 1
                try await local.channel.writeInbound(ByteBuffer(bytes: payload[served..<served + cycle]))
                served += cycle
            }
        }
        var frames: [TunnelData] = []
        for round in 1...rounds {
            // The job that takes the first read waits on the store; the session reads on meanwhile, up to one
            // job's batches, and then stops reading.
            rig.store.shut()
            try await serve()
            #expect(served == round * perRound, "round \(round): read \(served) bytes")
            // Once the store moves, that job returns and the next takes every batch read meanwhile. No read is
            // answered until all was sent.
            rig.store.open()
            try await waitUntil {
                for frame in (try? await rig.outbound()) ?? [] {
                    if case .data(_, let data) = frame { frames.append(data) }
                }
                return frames.reduce(0) { $0 + Int($1.decodedLength) } >= served
            }
        }
        // Every frame within the batch limit, and the frames decode to the payload, in order.
        #expect(frames.allSatisfy { $0.decodedLength <= 192 << 10 })
        let peerStore = try ScratchStore(capacity: 64 << 20)
        defer { peerStore.remove() }
        let decoder = try LinkDecoder(store: peerStore.store)
        var decoded: [UInt8] = []
        for data in frames {
            var bytes = try decoder.decode(data, flow: local.id)
            decoded += bytes.readBytes(length: bytes.readableBytes) ?? []
        }
        #expect(decoded == payload)
        // Per round, a job of one batch and a job of four.
        let jobs = try await rig.poolJobs()
        #expect(jobs.encodeJobFrames == frames.count, "\(jobs)")
        #expect(frames.count == rounds * (1 + PeerSession.batchesPerEncodeJob))
        #expect(jobs.encodeJobs == 2 * rounds, "\(jobs)")
        // So the two thread hops of a job are paid at most once per two frames (once per frame before).
        #expect(2 * jobs.encodeJobs <= jobs.encodeJobFrames, "\(jobs)")
        try await rig.stop()
    }

    /// An encode job decides for all its batches whether to compress: the batches behind the one that completes
    /// a flow's streak of incompressible batches are compressed and gain nothing, and are no probes. They must not
    /// stretch the interval to the first probe (32 plain batches), as probes that found nothing would.
    @Test func batchesBehindTheStreakInOneJobAreNoProbes() {
        let stream = TunnelStream(id: 1)
        for _ in 0..<(PeerSession.plainAfter + PeerSession.batchesPerEncodeJob - 1) {
            stream.noteProbe(gained: false, probe: false)
        }
        #expect(stream.incompressibleStreak == PeerSession.plainAfter + PeerSession.batchesPerEncodeJob - 1)
        #expect(stream.probeInterval == PeerSession.probeEvery)
        // A probe that finds nothing doubles the interval; one that gains ends the plain run.
        stream.noteProbe(gained: false, probe: true)
        #expect(stream.probeInterval == 2 * PeerSession.probeEvery)
        stream.noteProbe(gained: true, probe: true)
        #expect(stream.incompressibleStreak == 0 && stream.probeInterval == PeerSession.probeEvery)
    }

    /// Real sockets, mutual TLS, `DiskChunkStore`s at both ends: four flows at once echoed intact, each end's
    /// pool jobs carrying several frames on average.
    @Test func aLinkOnDiskStoresPaysFewerPoolJobsThanFrames() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let echo = try await AppServer.start(group: group)
        let pair = try await TunnelPair.start(targetPort: echo.port, group: group)
        let payloads = (0..<4).map { Payload.random(6 << 20, seed: 950 + UInt64($0)) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for payload in payloads {
                tasks.addTask {
                    let outcome = try await runFlow(port: pair.localPort, payload: payload, group: group)
                    #expect(outcome.mismatch(payload) == nil, "\(outcome) \(pair.log.text)")
                }
            }
            try await tasks.waitForAll()
        }
        let total = payloads.reduce(0) { $0 + $1.count }
        let client = try #require(pair.client.poolJobs())
        let server = try #require(pair.server.poolJobs().first)
        for (end, jobs) in [("client", client), ("server", server)] {
            // Every byte went one way through this end's encoder and the other way through its decoder.
            #expect(jobs.encodeJobFrames >= total / (192 << 10), "\(end): \(jobs)")
            #expect(jobs.decodeJobFrames >= total / (192 << 10), "\(end): \(jobs)")
            #expect(3 * jobs.encodeJobs <= 2 * jobs.encodeJobFrames, "\(end): \(jobs)")
            #expect(jobs.decodeJobs < jobs.decodeJobFrames, "\(end): \(jobs)")
        }
        await pair.shutdown()
        try await echo.channel.close()
        try await group.shutdownGracefully()
    }
}

extension SessionRig {
    /// The session's pool-job counters, read on its loop.
    func poolJobs() async throws -> TunnelStatisticsBox.PoolJobs {
        let session = self.session
        return try await loop.executeInContext { session.value.statistics.poolJobs }
    }
}

/// A ``SessionRig`` with two streams the peer has connected, and the peer's encoder for the direction the rig
/// decodes: no reference window, so a repeat travels as store references (which a test can make miss), and it
/// believes the rig holds what it sent.
private final class TwoFlows {
    let rig: SessionRig
    let locals: [LocalRig]
    let peerStore: ScratchStore
    let peer: LinkEncoder
    /// What the peer sent and the rig delivered, per flow.
    var sent: [[UInt8]] = [[], []]
    var received: [[UInt8]] = [[], []]

    private init(rig: SessionRig, locals: [LocalRig], peerStore: ScratchStore, peer: LinkEncoder) {
        self.rig = rig
        self.locals = locals
        self.peerStore = peerStore
        self.peer = peer
    }

    static func start() async throws -> TwoFlows {
        let rig = try await SessionRig.start(configuration: TunnelConfiguration(streamWindow: 8 << 20))
        let locals = [try await rig.openLocal(), try await rig.openLocal()]
        for local in locals {
            try await rig.link.writeInbound(TunnelFrame.windowUpdate(stream: local.id, increment: 64 << 10))
        }
        let peerStore = try ScratchStore(capacity: 64 << 20)
        let configuration = try EncoderConfiguration(
            codec: CodecConfiguration(.zstd, level: 1, longWindowLog: TunnelConfiguration.defaultLongWindowLog),
            windowSize: 0, blockSize: 64 << 10)
        let peer = try LinkEncoder(configuration: configuration, store: peerStore.store, retentionLimit: 64 << 20)
        peer.setPeer(PeerKnowledge(capacity: 1 << 16))
        return TwoFlows(rig: rig, locals: locals, peerStore: peerStore, peer: peer)
    }

    /// The peer's DATA frame carrying `bytes` on flow `flow` (0 or 1).
    func data(_ bytes: [UInt8], flow: Int) throws -> TunnelFrame {
        sent[flow] += bytes
        return .data(stream: locals[flow].id, try peer.encode(ByteBuffer(bytes: bytes), flow: locals[flow].id))
    }

    /// Collects what each flow delivers until it has as many bytes as were sent on it, then compares them.
    func receiveAll() async throws {
        try await waitUntil {
            for flow in locals.indices { received[flow] += (try? await locals[flow].drain()) ?? [] }
            return zip(received, sent).allSatisfy { $0.count >= $1.count }
        }
        #expect(received == sent)
    }

    func stop() async throws {
        try await rig.stop()
        peerStore.remove()
    }
}
