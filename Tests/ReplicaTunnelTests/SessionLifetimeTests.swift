import NIOCore
import NIOEmbedded
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// What a link keeps after it closes (nothing), and how the sender's retention counts chunks referenced again.
@Suite struct SessionLifetimeTests {
    @Test func aClosedLinkLetsGoOfItsSessionAndEngine() throws {
        weak var weakSession: PeerSession?
        weak var weakChannel: EmbeddedChannel?
        do {
            let configuration = try TunnelConfiguration(streamWindow: 64 << 10, linkBudget: 1 << 20)
            let session = try PeerSession(
                role: .server(
                    TargetDialer(
                        policy: TunnelAccessPolicy(allowList: TunnelAllowList(), permissions: .anyPeer), identity: nil,
                        listener: nil)), configuration: configuration,
                store: MemoryChunkStore(capacity: 1 << 20), peerName: "test", offload: nil, logger: { _ in })
            weakSession = session
            let channel = EmbeddedChannel(handler: session)
            weakChannel = channel
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.close().wait()
            #expect(!session.holdsResources)
            _ = try? channel.finish()
            channel.embeddedEventLoop.run()
        }
        #expect(weakChannel == nil)
        #expect(weakSession == nil)
    }

    func knowing(_ chunks: [([UInt8], Fingerprint)]) -> PeerKnowledge {
        let knowledge = PeerKnowledge(capacity: 1024)
        for (_, fingerprint) in chunks { knowledge.insert(fingerprint) }
        return knowledge
    }

    @Test func onlyChunksThePeerIsKnownToHoldAreReferenced() throws {
        let store = WipeableStore()
        let (a, b) = (chunk(6), chunk(7))
        for (bytes, fingerprint) in [a, b] { bytes.withUnsafeBytes { store.put($0, as: fingerprint) } }
        let recorder = ReferenceRecorder(store: store, retentionLimit: 1 << 20)
        // The store holds both, but nothing is known of the peer yet.
        #expect(!recorder.contains(a.1))
        let knowledge = knowing([a])
        recorder.setPeer(knowledge)
        #expect(recorder.contains(a.1))
        #expect(!recorder.contains(b.1))
        #expect(try recorder.get(b.1) == nil)
        // A chunk sent as a literal on the link is held by the peer from then on.
        try b.0.withUnsafeBytes { try recorder.put($0, as: b.1) }
        #expect(recorder.contains(b.1))
        #expect(knowledge.count == 2)
    }

    @Test func knowledgeIsBounded() {
        let knowledge = PeerKnowledge(capacity: 1024)
        for index in 0..<5000 { knowledge.insert(Fingerprint(high: UInt64(index), low: 1)) }
        #expect(knowledge.count == 1024)
        #expect(!knowledge.contains(Fingerprint(high: 0, low: 1)))
        #expect(knowledge.contains(Fingerprint(high: 4999, low: 1)))
    }

    func chunk(_ seed: UInt64) -> ([UInt8], Fingerprint) {
        let bytes = Payload.random(1000, seed: seed)
        return (bytes, Fingerprinter().fingerprint(bytes))
    }

    @Test func aChunkReferencedAgainIsCountedOnceAndStaysRetained() throws {
        let store = WipeableStore()
        let (a, b, c) = (chunk(1), chunk(2), chunk(3))
        for (bytes, fingerprint) in [a, b, c] { bytes.withUnsafeBytes { store.put($0, as: fingerprint) } }
        let recorder = ReferenceRecorder(store: store, retentionLimit: 3000)
        recorder.setPeer(knowing([a, b, c]))
        recorder.beginBatch()
        #expect(recorder.contains(a.1))
        #expect(recorder.contains(b.1))
        #expect(recorder.endBatch(retaining: [a.1, b.1]) == [a.1, b.1])
        #expect(recorder.retainedBytes == 2000)
        // A second batch references a again (and as a prefix chunk too): its bytes are not counted again.
        recorder.beginBatch()
        #expect(try recorder.get(a.1) == a.0)
        #expect(recorder.endBatch(retaining: [a.1, a.1]) == [a.1])
        #expect(recorder.retainedBytes == 2000)
        recorder.beginBatch()
        #expect(recorder.contains(c.1))
        #expect(recorder.endBatch(retaining: [c.1]) == [c.1])
        store.wipe()
        // a was referenced again after b: b (the oldest) goes first, a stays answerable from retention alone.
        #expect(recorder.answer(a.1) == a.0)
        #expect(recorder.answer(c.1) == c.0)
    }

    @Test func aChunkIsAnsweredOncePerReferenceAndNeverFromTheStore() throws {
        let store = WipeableStore()
        let (a, b) = (chunk(4), chunk(5))
        for (bytes, fingerprint) in [a, b] { bytes.withUnsafeBytes { store.put($0, as: fingerprint) } }
        let recorder = ReferenceRecorder(store: store, retentionLimit: 1 << 20)
        recorder.setPeer(knowing([a]))
        for _ in 0..<2 {
            recorder.beginBatch()
            #expect(recorder.contains(a.1))
            #expect(recorder.endBatch(retaining: [a.1]) == [a.1])
        }
        #expect(recorder.answer(a.1) == a.0)
        #expect(recorder.answer(a.1) == a.0)
        #expect(recorder.answer(a.1) == nil)
        // b is in the store but was never referenced on this link: the store is no oracle.
        #expect(recorder.answer(b.1) == nil)
    }

    @Test func aLookupTheEncoderDidNotUseIsNeitherListedNorRetained() throws {
        let store = WipeableStore()
        let (a, b) = (chunk(6), chunk(7))
        for (bytes, fingerprint) in [a, b] { bytes.withUnsafeBytes { store.put($0, as: fingerprint) } }
        let recorder = ReferenceRecorder(store: store, retentionLimit: 1 << 20)
        recorder.setPeer(knowing([a, b]))
        recorder.beginBatch()
        // A prefix candidate read but not used (the block compressed better without it) is no dependency.
        #expect(try recorder.get(b.1) == b.0)
        #expect(recorder.contains(a.1))
        #expect(recorder.endBatch(retaining: [a.1]) == [a.1])
        #expect(recorder.retainedBytes == 1000)
        #expect(recorder.answer(b.1) == nil)
    }

    @Test func theEncoderReportsExactlyTheStoreChunksItsBlocksNeed() throws {
        let store = WipeableStore()
        let configuration = try EncoderConfiguration(windowSize: 0, storeRuns: false)
        let content = Payload.random(256 << 10, seed: 8)
        let first = try StreamEncoder(configuration: configuration, store: store)
        var output: [UInt8] = []
        try first.encode(content, into: &output)
        try first.finish(into: &output)
        #expect(first.takeStoreDependencies().isEmpty)
        let second = try StreamEncoder(configuration: configuration, store: store)
        output.removeAll()
        try second.encode(content, into: &output)
        try second.flush(into: &output)
        let dependencies = second.takeStoreDependencies()
        #expect(dependencies.count == Int(second.statistics.storeReferences))
        #expect(dependencies.count > 0)
        #expect(second.takeStoreDependencies().isEmpty)
    }
}
