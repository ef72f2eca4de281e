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
        #expect(recorder.contains(a.1))
        #expect(recorder.contains(b.1))
        // A prefix read of a chunk already retained must not count its bytes again, nor queue it twice.
        #expect(try recorder.get(a.1) == a.0)
        #expect(recorder.retainedBytes == 2000)
        #expect(recorder.contains(c.1))
        store.wipe()
        // a was referenced last after b: b (the oldest) may go, a must stay answerable from retention alone.
        #expect(recorder.answer(a.1) == a.0)
        #expect(recorder.answer(c.1) == c.0)
    }

    @Test func aChunkIsAnsweredOncePerReferenceAndNeverFromTheStore() throws {
        let store = WipeableStore()
        let (a, b) = (chunk(4), chunk(5))
        for (bytes, fingerprint) in [a, b] { bytes.withUnsafeBytes { store.put($0, as: fingerprint) } }
        let recorder = ReferenceRecorder(store: store, retentionLimit: 1 << 20)
        recorder.setPeer(knowing([a]))
        #expect(recorder.contains(a.1))
        #expect(recorder.contains(a.1))
        #expect(recorder.answer(a.1) == a.0)
        #expect(recorder.answer(a.1) == a.0)
        #expect(recorder.answer(a.1) == nil)
        // b is in the store but was never referenced on this link: the store is no oracle.
        #expect(recorder.answer(b.1) == nil)
    }
}
