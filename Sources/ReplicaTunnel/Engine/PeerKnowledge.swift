import NIOCore
import ReplicaCore
import Synchronization

/// The chunks one peer's store is known to hold: those this end sent it as literals and those it sent this
/// end as literals, on any link with that store. The encoder references only these, so a peer is never told
/// about (and so can never ask for) a chunk that was not meant for it, and a hub serving many branches rarely
/// sends a reference its branch must fetch.
///
/// Bounded: it remembers the latest ``capacity`` chunks, first in, first out. A chunk forgotten is sent as a
/// literal again, which costs bytes, never correctness.
final class PeerKnowledge: Sendable {
    private struct State {
        var known = Set<Fingerprint>()
        var order = CircularBuffer<Fingerprint>()
    }

    /// The most chunks remembered.
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ fingerprint: Fingerprint) -> Bool { state.withLock { $0.known.contains(fingerprint) } }

    /// Records that the peer holds a chunk.
    func insert(_ fingerprint: Fingerprint) {
        let capacity = self.capacity
        state.withLock { state in
            guard state.known.insert(fingerprint).inserted else { return }
            state.order.append(fingerprint)
            while state.order.count > capacity, let oldest = state.order.popFirst() { state.known.remove(oldest) }
        }
    }

    var count: Int { state.withLock { $0.known.count } }
}

/// What each peer store is known to hold, shared by every link of the process, for the most recently seen
/// ``maximumPeers`` peer stores.
final class PeerKnowledgeRegistry: Sendable {
    /// The registry of the process.
    static let shared = PeerKnowledgeRegistry()
    /// The most peer stores remembered; the least recently linked is forgotten first.
    static let maximumPeers = 64

    private let peers = Mutex<[(StoreID, PeerKnowledge)]>([])

    /// The knowledge of one peer store, created on first use.
    func knowledge(of peer: StoreID, capacity: Int) -> PeerKnowledge {
        peers.withLock { peers in
            if let index = peers.firstIndex(where: { $0.0 == peer }) {
                let entry = peers.remove(at: index)
                peers.append(entry)
                return entry.1
            }
            let knowledge = PeerKnowledge(capacity: capacity)
            peers.append((peer, knowledge))
            if peers.count > Self.maximumPeers { peers.removeFirst() }
            return knowledge
        }
    }
}
